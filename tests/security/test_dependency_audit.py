"""Dependency vulnerability audit: fails on a known vulnerability in a pinned version (unless
ignored with a reason); says loudly, without failing, what could not be checked.

The verdict logic is tested with fixed answers of each source; the real audit then runs
against the real services (about 20 s) and writes its report to the test's temp folder
(`scripts/dependency_audit.py` writes reports/dependency-audit.md for the record).
"""

from __future__ import annotations

import importlib.util
import sys
import warnings

import pytest

from tests.support.processes import ROOT


def audit_module():
    spec = importlib.util.spec_from_file_location("ct_dependency_audit", ROOT / "scripts" / "dependency_audit.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


da = audit_module()
PINS = {"flask": "3.0.0", "jinja2": "3.1.2", "requests": "2.34.2"}
VULN = {"id": "GHSA-abcd-1234-wxyz", "aliases": ["CVE-2099-0001"], "fix_versions": ["3.1.5"], "description": "sandbox escape"}


def pip_audit_answering(results: dict | None, outcome: str = "answered"):
    def fake(pins, service):
        return (results if service == "pypi" else None), f"{service}: {outcome if service == 'pypi' else 'unreachable'}"
    return fake


def no_project_lookup(name, version, session):
    raise AssertionError(f"the fallback should not be asked about {name}")


def test_a_vulnerable_pin_found_by_pip_audit_fails():
    answer = {"flask": {"name": "flask", "version": "3.0.0", "vulns": []}, "jinja2": {"name": "jinja2", "version": "3.1.2", "vulns": [VULN]},
              "requests": {"name": "requests", "version": "2.34.2", "vulns": []}}
    result = da.audit(PINS, {"flask", "requests"}, {}, pip_audit_answering(answer), no_project_lookup)
    assert [p.name for p in result.vulnerable] == ["jinja2"]
    assert "FAILED" in da.render_markdown(result, "now") and "GHSA-abcd-1234-wxyz" in da.render_markdown(result, "now")


def test_an_ignored_vulnerability_needs_a_reason_and_then_passes(tmp_path):
    answer = {"jinja2": {"name": "jinja2", "version": "3.1.2", "vulns": [VULN]}}
    ignore = tmp_path / "ignore.yaml"
    ignore.write_text("- {package: Jinja2, id: CVE-2099-0001, reason: templates are ours only}\n")
    result = da.audit({"jinja2": "3.1.2"}, set(), da.load_ignores(ignore), pip_audit_answering(answer), no_project_lookup)
    assert result.vulnerable == [] and result.packages["jinja2"].status == "ignored"
    ignore.write_text("- {package: jinja2, id: CVE-2099-0001, reason: ''}\n")
    with pytest.raises(ValueError, match="non-empty reason"):
        da.load_ignores(ignore)


def test_skipped_pins_are_not_clean_and_direct_ones_fall_back_to_the_latest_release():
    skipped = {n: {"name": n, "skip_reason": "Dependency not found on PyPI"} for n in PINS}
    latest = {"flask": ("vulnerable", [{"id": "PYSEC-2099-1", "fixed_in": ["3.0.1"]}], "pin is the latest release"),
              "requests": ("not checked", [], "pin 2.34.2 is not the latest release (2.35.0)")}
    result = da.audit(PINS, {"flask", "requests"}, {}, pip_audit_answering(skipped), lambda name, version, session: latest[name])
    assert {n: p.status for n, p in result.packages.items()} == {"flask": "vulnerable", "jinja2": "not checked", "requests": "not checked"}
    assert "transitive" in result.packages["jinja2"].note and "not the latest" in result.packages["requests"].note
    assert any("unreachable" in s for s in result.services)


def test_the_pinned_dependencies_have_no_known_vulnerability(tmp_path):
    result = da.run_audit(tmp_path / "dependency-audit.md")
    report = (tmp_path / "dependency-audit.md").read_text()
    assert f"over the {len(result.packages)} pins" in report and "| apache-airflow |" in report
    unchecked = result.count("not checked")
    if unchecked:
        warnings.warn(
            f"DEPENDENCY AUDIT INCOMPLETE: {unchecked} of {len(result.packages)} pins could not be checked "
            f"({'; '.join(result.services)})", UserWarning, stacklevel=1,
        )
    assert not result.vulnerable, "known vulnerabilities in pinned versions:\n" + "\n".join(
        f"  {p.name}=={p.version}: {[v['id'] for v in p.vulnerabilities]} fixed in {[v['fix_versions'] for v in p.vulnerabilities]}" for p in result.vulnerable
    ) + f"\nUpgrade the pin, or accept it with a reason in {da.IGNORE_FILE.relative_to(ROOT)}"
