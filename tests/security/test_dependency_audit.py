"""Dependency vulnerability audit: a gate that fails on a known vulnerability in a pin (unless
accepted with a reason), on a direct pin it could not check (unless accepted, at that version,
with a reason), and when it could check nothing.

The verdict logic is tested with fixed answers of each source; the real audit then runs
against what answers from this machine (about 5 s) and writes its report to the test's temp
folder (`scripts/dependency_audit.py` writes reports/dependency-audit.md for the record).
"""

from __future__ import annotations

import importlib.util
import sys

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


def latest_releases(answers: dict):
    return lambda name, version, session: answers[name]


NOT_LATEST = ("not checked", [], "pin is not the latest release")


def test_a_vulnerable_pin_found_by_pip_audit_fails_the_gate():
    answer = {"flask": {"name": "flask", "version": "3.0.0", "vulns": []}, "jinja2": {"name": "jinja2", "version": "3.1.2", "vulns": [VULN]},
              "requests": {"name": "requests", "version": "2.34.2", "vulns": []}}
    result = da.audit(PINS, {"flask", "requests"}, da.AuditPolicy(), pip_audit_answering(answer), no_project_lookup)
    assert [p.name for p in result.vulnerable] == ["jinja2"]
    (failure,) = result.failures  # a transitive pin too: a known vulnerability fails wherever it is
    assert "jinja2==3.1.2" in failure and "GHSA-abcd-1234-wxyz" in failure and "3.1.5" in failure
    report = da.render_markdown(result, "now")
    assert "FAILED" in report and "GHSA-abcd-1234-wxyz" in report


def test_an_accepted_vulnerability_needs_a_reason_and_then_passes(tmp_path):
    answer = {"jinja2": {"name": "jinja2", "version": "3.1.2", "vulns": [VULN]}}
    policy_file = tmp_path / "ignore.yaml"
    policy_file.write_text("vulnerabilities:\n  - {package: Jinja2, id: CVE-2099-0001, reason: templates are ours only}\n")
    result = da.audit({"jinja2": "3.1.2"}, set(), da.load_policy(policy_file), pip_audit_answering(answer), no_project_lookup)
    assert result.failures == [] and result.packages["jinja2"].status == "ignored"
    assert "templates are ours only" in result.packages["jinja2"].note
    policy_file.write_text("vulnerabilities:\n  - {package: jinja2, id: CVE-2099-0001, reason: ''}\n")
    with pytest.raises(ValueError, match="non-empty reason"):
        da.load_policy(policy_file)


def test_pins_pip_audit_skips_are_not_clean_and_fall_back_to_the_latest_release():
    skipped = {n: {"name": n, "skip_reason": "Dependency not found on PyPI"} for n in PINS}
    latest = {"flask": ("vulnerable", [{"id": "PYSEC-2099-1", "fixed_in": ["3.0.1"]}], "pin is the latest release"),
              "jinja2": ("clean", [], "pin is the latest release"), "requests": NOT_LATEST}
    result = da.audit(PINS, {"flask", "requests"}, da.AuditPolicy(), pip_audit_answering(skipped), latest_releases(latest))
    assert {n: p.status for n, p in result.packages.items()} == {"flask": "vulnerable", "jinja2": "clean", "requests": "not checked"}
    assert result.packages["flask"].vulnerabilities[0]["fix_versions"] == ["3.0.1"]
    assert any("unreachable" in s for s in result.services)
    assert len(result.failures) == 2 and "requests==2.34.2 (direct pin) could not be checked" in result.failures[1]


def test_a_direct_pin_that_cannot_be_checked_fails_unless_accepted_at_that_version(tmp_path):
    unanswered = pip_audit_answering(None)
    latest = latest_releases({"flask": ("clean", [], "latest"), "jinja2": NOT_LATEST, "requests": NOT_LATEST})
    policy_file = tmp_path / "ignore.yaml"
    policy_file.write_text("unchecked:\n  - {package: requests, version: 2.34.1, reason: held back by urllib3}\n")
    result = da.audit(PINS, {"flask", "requests"}, da.load_policy(policy_file), unanswered, latest)
    assert [p.name for p in result.unchecked_direct] == ["requests"]  # accepted for another version: lapsed
    assert any("requests==2.34.1" in s and "match no pin" in s for s in result.services)
    policy_file.write_text("unchecked:\n  - {package: requests, version: 2.34.2, reason: held back by urllib3}\n")
    result = da.audit(PINS, {"flask", "requests"}, da.load_policy(policy_file), unanswered, latest)
    assert result.failures == [] and result.packages["requests"].status == "accepted"
    assert result.packages["jinja2"].status == "not checked"  # transitive: reported, no verdict, not a failure
    policy_file.write_text("unchecked:\n  - {package: requests, version: 2.34.2}\n")
    with pytest.raises(ValueError, match="non-empty reason"):
        da.load_policy(policy_file)


def test_checking_nothing_fails_even_when_every_direct_pin_is_accepted():
    policy = da.AuditPolicy(unchecked={("flask", "3.0.0"): "r", ("requests", "2.34.2"): "r"})
    result = da.audit(PINS, {"flask", "requests"}, policy, pip_audit_answering(None), latest_releases(dict.fromkeys(PINS, NOT_LATEST)))
    assert result.checked() == 0
    (failure,) = result.failures
    assert failure.startswith("no pin could be checked at all")


def test_a_service_that_cannot_answer_is_not_run(monkeypatch):
    monkeypatch.setattr(da, "service_unreachable", lambda service, name, version: "HTTP 404")
    monkeypatch.setattr(da.subprocess, "run", lambda *a, **k: pytest.fail("pip-audit should not run"))
    assert da.run_pip_audit({"flask": "3.0.0"}, "pypi") == (None, "pip-audit -s pypi: not run: HTTP 404")


def test_the_pinned_dependencies_pass_the_audit(tmp_path):
    result = da.run_audit(tmp_path / "dependency-audit.md")
    report = (tmp_path / "dependency-audit.md").read_text()
    assert f"over the {len(result.packages)} pins" in report and "| apache-airflow |" in report
    assert not result.failures, "the dependency audit failed:\n" + "\n".join(f"  {f}" for f in result.failures) + (
        f"\nUpgrade the pin, or accept it with a reason in {da.IGNORE_FILE.relative_to(ROOT)}\nSources: " + "; ".join(result.services))
