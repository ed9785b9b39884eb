"""Known vulnerabilities in the pinned dependencies, with pip-audit, said honestly when it cannot tell.

    .venv/bin/python scripts/dependency_audit.py [--report reports/dependency-audit.md]

pip-audit audits every pin of the lock file (constraints.txt) with PyPI's vulnerability
service, then with OSV. Where neither can answer (here PyPI's per-version endpoint answers
404, which pip-audit reports as "not found on PyPI" while still printing "No known
vulnerabilities found", and osv.dev is unreachable), the direct pins (requirements*.txt)
fall back to PyPI's project endpoint, whose ``vulnerabilities`` describe the latest release
only: they apply when our pin *is* the latest release; otherwise the pin is "not checked".
Nothing unknown is reported as clean.

Exit status 1 when a known vulnerability affects a pinned version and is not listed, with
a reason, in scripts/dependency_audit_ignore.yaml; 0 otherwise (also when nothing could be
checked: the report and the output say so).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "constraints.txt"
REQUIREMENTS = (ROOT / "requirements.txt", ROOT / "requirements-dev.txt")
IGNORE_FILE = ROOT / "scripts" / "dependency_audit_ignore.yaml"
PYPI_PROJECT = "https://pypi.org/pypi/{name}/json"
PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;#]+)")


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(path: Path) -> dict[str, str]:
    return {normalize(m[1]): m[2] for line in path.read_text().splitlines() if (m := PIN.match(line))}


@dataclass
class PackageVerdict:
    name: str
    version: str
    direct: bool
    status: str = "not checked"  # "clean", "vulnerable", "ignored" or "not checked"
    source: str = ""
    vulnerabilities: list[dict] = field(default_factory=list)
    note: str = ""


@dataclass
class AuditResult:
    packages: dict[str, PackageVerdict]
    services: list[str]  # what each source answered, for the report

    @property
    def vulnerable(self) -> list[PackageVerdict]:
        return [p for p in self.packages.values() if p.status == "vulnerable"]

    def count(self, status: str, direct: bool | None = None) -> int:
        return sum(1 for p in self.packages.values() if p.status == status and (direct is None or p.direct == direct))


def run_pip_audit(pins: dict[str, str], service: str, timeout_s: float = 600) -> tuple[dict[str, dict] | None, str]:
    """pip-audit over the pins with one service: ({name: {"vulns": [...]} or {"skip_reason": ...}}, outcome)."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
        handle.write("".join(f"{name}=={version}\n" for name, version in sorted(pins.items())))
    command = [sys.executable, "-m", "pip_audit", "-r", handle.name, "--no-deps", "--disable-pip", "-f", "json", "--progress-spinner", "off", "-s", service]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return None, f"pip-audit -s {service}: no answer within {timeout_s:.0f} s"
    finally:
        Path(handle.name).unlink(missing_ok=True)
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return None, f"pip-audit -s {service}: failed (exit {done.returncode}): {last[:300]}"
    results = {normalize(d["name"]): d for d in report.get("dependencies", [])}
    skipped = sum(1 for d in results.values() if "skip_reason" in d)
    audited = len(results) - skipped
    return results, f"pip-audit -s {service}: audited {audited} of {len(results)} pins" + (f"; {skipped} skipped (e.g. {next((d['skip_reason'] for d in results.values() if 'skip_reason' in d), '')!r})" if skipped else "")


def latest_release_vulnerabilities(name: str, version: str, session) -> tuple[str, list[dict], str]:
    """PyPI's project endpoint: ("clean"/"vulnerable"/"not checked", vulnerabilities, note)."""
    import requests

    try:
        response = session.get(PYPI_PROJECT.format(name=name), timeout=30)
        response.raise_for_status()
        document = response.json()
    except (requests.RequestException, ValueError) as exc:
        return "not checked", [], f"PyPI project endpoint unreachable: {type(exc).__name__}"
    latest = document["info"]["version"]
    if latest != version:
        return "not checked", [], f"pin {version} is not the latest release ({latest}); PyPI's per-version data is unreachable here"
    vulns = [v for v in document.get("vulnerabilities", []) if not v.get("withdrawn")]
    return ("vulnerable" if vulns else "clean"), vulns, f"pin is the latest release ({latest})"


def load_ignores(path: Path = IGNORE_FILE) -> dict[tuple[str, str], str]:
    import yaml

    entries = yaml.safe_load(path.read_text()) if path.exists() else None
    ignores = {}
    for number, entry in enumerate(entries or []):
        if not isinstance(entry, dict) or not {"package", "id", "reason"} <= set(entry) or not str(entry["reason"]).strip():
            raise ValueError(f"{path}: entry {number} must have package, id and a non-empty reason; found {entry!r}")
        ignores[(normalize(entry["package"]), entry["id"])] = entry["reason"]
    return ignores


def apply_ignores(verdict: PackageVerdict, ignores: dict[tuple[str, str], str]) -> None:
    if verdict.status != "vulnerable":
        return
    open_ids = [v["id"] for v in verdict.vulnerabilities if (verdict.name, v["id"]) not in ignores and not any((verdict.name, a) in ignores for a in v.get("aliases", []))]
    if not open_ids:
        verdict.status, verdict.note = "ignored", "every vulnerability is in the ignore file: " + "; ".join(ignores.get((verdict.name, v["id"]), "alias") for v in verdict.vulnerabilities)


def audit(pins: dict[str, str], direct: set[str], ignores: dict, pip_audit=run_pip_audit, project_lookup=latest_release_vulnerabilities) -> AuditResult:
    import requests

    packages = {name: PackageVerdict(name, version, name in direct) for name, version in pins.items()}
    services = []
    for service in ("pypi", "osv"):
        unanswered = {n: v for n, v in pins.items() if packages[n].status == "not checked"}
        if not unanswered:
            break
        results, outcome = pip_audit(unanswered, service)
        services.append(outcome)
        for name, entry in (results or {}).items():
            if name in packages and "vulns" in entry and "skip_reason" not in entry:
                verdict = packages[name]
                verdict.vulnerabilities = [{"id": v["id"], "aliases": v.get("aliases", []), "fix_versions": v.get("fix_versions", []), "summary": v.get("description", "")[:200]} for v in entry["vulns"]]
                verdict.status, verdict.source = ("vulnerable" if verdict.vulnerabilities else "clean"), f"pip-audit ({service})"
    fallback = [n for n, p in packages.items() if p.status == "not checked" and p.direct]
    if fallback:
        with requests.Session() as session:
            for name in fallback:
                verdict = packages[name]
                verdict.status, vulns, verdict.note = project_lookup(name, verdict.version, session)
                verdict.source = "PyPI project endpoint (latest release)"
                verdict.vulnerabilities = [{"id": v["id"], "aliases": v.get("aliases", []), "fix_versions": v.get("fixed_in", []), "summary": (v.get("summary") or v.get("details") or "")[:200]} for v in vulns]
        services.append(f"fallback, PyPI project endpoint for the {len(fallback)} direct pins pip-audit could not audit: "
                        f"{sum(packages[n].status != 'not checked' for n in fallback)} checked (pin = latest release), {sum(packages[n].status == 'not checked' for n in fallback)} not checked")
    for name, verdict in packages.items():
        if verdict.status == "not checked" and not verdict.note:
            verdict.note = "no vulnerability service answered for this pin" + ("" if verdict.direct else " (transitive: the fallback covers direct pins only)")
        apply_ignores(verdict, ignores)
    return AuditResult(packages, services)


def render_markdown(result: AuditResult, when: str) -> str:
    total = len(result.packages)
    checked = total - result.count("not checked")
    lines = [
        "# Dependency vulnerability audit",
        "",
        f"Generated {when} by `.venv/bin/python scripts/dependency_audit.py` over the {total} pins of `constraints.txt`.",
        "",
        f"**Verdict: {'FAILED: known vulnerabilities in pinned versions' if result.vulnerable else 'no known vulnerability found in the pins that could be checked'}.** "
        f"Checked {checked} of {total} pins; **{result.count('not checked')} could not be checked** (see below): this is not a clean bill of health for those.",
        "",
        "What each source answered:",
        "",
        *[f"- {s}" for s in result.services],
        "",
        "| package | pinned | direct | status | source | note |",
        "|---|---|---|---|---|---|",
    ]
    ordered = sorted(result.packages.values(), key=lambda p: ({"vulnerable": 0, "ignored": 1, "clean": 2, "not checked": 3}[p.status], not p.direct, p.name))
    for p in ordered:
        if p.direct or p.status in ("vulnerable", "ignored", "clean"):
            ids = ", ".join(v["id"] for v in p.vulnerabilities)
            lines.append(f"| {p.name} | {p.version} | {'yes' if p.direct else 'no'} | {p.status}{f' ({ids})' if ids else ''} | {p.source or '-'} | {p.note} |")
    unchecked = sorted(p.name for p in result.packages.values() if p.status == "not checked" and not p.direct)
    if unchecked:
        lines += ["", f"Transitive pins not checked ({len(unchecked)}): " + ", ".join(unchecked) + "."]
    return "\n".join(lines) + "\n"


def run_audit(report: Path) -> AuditResult:
    """Audit the lock file's pins, write the Markdown report, print a summary."""
    direct = {name for path in REQUIREMENTS for name in read_pins(path)}
    result = audit(read_pins(LOCK), direct, load_ignores())
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(render_markdown(result, time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())))
    for line in result.services:
        print(line)
    print(f"clean {result.count('clean')}, vulnerable {result.count('vulnerable')}, ignored {result.count('ignored')}, NOT CHECKED {result.count('not checked')} of {len(result.packages)} pins; report: {report}")
    for p in result.vulnerable:
        print(f"VULNERABLE {p.name}=={p.version}: {', '.join(v['id'] for v in p.vulnerabilities)} (fix: {[v['fix_versions'] for v in p.vulnerabilities]})")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", type=Path, default=ROOT / "reports" / "dependency-audit.md")
    args = parser.parse_args(argv)
    return 1 if run_audit(args.report).vulnerable else 0


if __name__ == "__main__":
    sys.exit(main())
