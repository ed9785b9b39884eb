"""Known vulnerabilities in the pinned dependencies: a gate that fails when it cannot tell.

    .venv/bin/python scripts/dependency_audit.py [--report reports/dependency-audit.md]

What is audited: every pin of the lock file (constraints.txt). What must be checked: the fixed
set of direct pins (requirements.txt, requirements-dev.txt), read from files, no resolution.

Sources, best first, each asked only about the pins still unanswered:
1. pip-audit with PyPI's per-version data (``/pypi/<name>/<version>/json``), 2. pip-audit with
OSV: both are probed with one request first, since here the first answers 404 for every pin
(pip-audit then says "not found on PyPI" and still prints "No known vulnerabilities found") and
osv.dev does not resolve, and a probe costs 0.1 s where a pip-audit run costs 15 s;
3. PyPI's project endpoint (``/pypi/<name>/json``), which answers here but describes the latest
release only: it decides a pin that *is* the latest release; any other pin is "not checked".
Nothing unknown is reported as clean.

Exit status 1 (the gate fails) when a pin has a known vulnerability not accepted with a
reason, when a direct pin could not be checked and is not accepted, at that exact version and
with a reason, in scripts/dependency_audit_ignore.yaml, or when nothing could be checked at all.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "constraints.txt"
REQUIREMENTS = (ROOT / "requirements.txt", ROOT / "requirements-dev.txt")
IGNORE_FILE = ROOT / "scripts" / "dependency_audit_ignore.yaml"
PYPI_PROJECT = "https://pypi.org/pypi/{name}/json"
PYPI_RELEASE = "https://pypi.org/pypi/{name}/{version}/json"  # what pip-audit's PyPI service reads
OSV_QUERY = "https://api.osv.dev/v1/query"  # what pip-audit's OSV service reads
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
    status: str = "not checked"  # "clean", "vulnerable", "ignored" (vulnerability accepted), "not checked" or "accepted" (unchecked, with a reason)
    source: str = ""
    vulnerabilities: list[dict] = field(default_factory=list)
    note: str = ""


@dataclass
class AuditPolicy:
    """What is accepted on purpose, each with a reason: vulnerabilities by id, unchecked pins by exact version."""

    vulnerabilities: dict[tuple[str, str], str] = field(default_factory=dict)  # (package, advisory id) -> reason
    unchecked: dict[tuple[str, str], str] = field(default_factory=dict)  # (package, pinned version) -> reason


@dataclass
class AuditResult:
    packages: dict[str, PackageVerdict]
    services: list[str]  # what each source answered, for the report

    @property
    def vulnerable(self) -> list[PackageVerdict]:
        return [p for p in self.packages.values() if p.status == "vulnerable"]

    @property
    def unchecked_direct(self) -> list[PackageVerdict]:
        return [p for p in self.packages.values() if p.direct and p.status == "not checked"]

    def count(self, status: str, direct: bool | None = None) -> int:
        return sum(1 for p in self.packages.values() if p.status == status and (direct is None or p.direct == direct))

    def checked(self, direct: bool | None = None) -> int:
        return sum(self.count(status, direct) for status in ("clean", "vulnerable", "ignored"))

    @property
    def failures(self) -> list[str]:
        """Why the gate fails; empty when it passes."""
        failures = [f"{p.name}=={p.version} has known vulnerabilities: {', '.join(v['id'] for v in p.vulnerabilities)}"
                    f" (fixed in {sorted({f for v in p.vulnerabilities for f in v['fix_versions']}) or 'no release yet'})" for p in self.vulnerable]
        failures += [f"{p.name}=={p.version} (direct pin) could not be checked: {p.note}" for p in self.unchecked_direct]
        if not self.checked():
            failures.append(f"no pin could be checked at all ({'; '.join(self.services)})")
        return failures


def run_pip_audit(pins: dict[str, str], service: str, timeout_s: float = 600) -> tuple[dict[str, dict] | None, str]:
    """pip-audit over the pins with one service: ({name: {"vulns": [...]} or {"skip_reason": ...}}, outcome).
    Not run (None) when one probe request shows the service cannot answer from here."""
    unreachable = service_unreachable(service, *next(iter(sorted(pins.items()))))
    if unreachable:
        return None, f"pip-audit -s {service}: not run: {unreachable}"
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
        handle.write("".join(f"{name}=={version}\n" for name, version in sorted(pins.items())))
    command = [sys.executable, "-m", "pip_audit", "-r", handle.name, "--no-deps", "--disable-pip", "-f", "json", "--progress-spinner", "off", "-s", service]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
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


def service_unreachable(service: str, name: str, version: str) -> str | None:
    """Why pip-audit's service cannot answer here (one request about one pin), or None if it answers."""
    import requests

    try:
        if service == "pypi":
            response = requests.get(PYPI_RELEASE.format(name=name, version=version), timeout=15)
        else:
            response = requests.post(OSV_QUERY, json={"package": {"name": name, "ecosystem": "PyPI"}, "version": version}, timeout=15)
    except requests.RequestException as exc:
        return f"{service} unreachable: {type(exc).__name__}: {str(exc)[:220]}"
    if response.status_code != 200:
        return f"its endpoint answered HTTP {response.status_code} for {name}=={version} (pip-audit would report every pin as not found)"
    return None


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
        return "not checked", [], f"pin {version} is not the latest release ({latest}), and only the latest release's vulnerabilities can be read here"
    vulns = [v for v in document.get("vulnerabilities", []) if not v.get("withdrawn")]
    return ("vulnerable" if vulns else "clean"), vulns, f"pin is the latest release ({latest})"


def load_policy(path: Path = IGNORE_FILE) -> AuditPolicy:
    """The accepted vulnerabilities and unchecked pins; every entry needs a non-empty reason."""
    import yaml

    document = (yaml.safe_load(path.read_text()) if path.exists() else None) or {}
    if not isinstance(document, dict) or not set(document) <= {"vulnerabilities", "unchecked"}:
        raise ValueError(f"{path}: expected a mapping with the keys 'vulnerabilities' and 'unchecked'; found {document!r}")
    policy = AuditPolicy()
    for section, key, accepted in (("vulnerabilities", "id", policy.vulnerabilities), ("unchecked", "version", policy.unchecked)):
        for number, entry in enumerate(document.get(section) or []):
            if not isinstance(entry, dict) or not {"package", key, "reason"} <= set(entry) or not str(entry["reason"]).strip():
                raise ValueError(f"{path}: {section} entry {number} must have package, {key} and a non-empty reason; found {entry!r}")
            accepted[(normalize(entry["package"]), str(entry[key]))] = str(entry["reason"]).strip()
    return policy


def apply_policy(verdict: PackageVerdict, policy: AuditPolicy) -> None:
    if verdict.status == "not checked" and (reason := policy.unchecked.get((verdict.name, verdict.version))):
        verdict.status, verdict.note = "accepted", f"{verdict.note}; accepted unchecked: {reason}"
    if verdict.status != "vulnerable":
        return
    accepted = policy.vulnerabilities
    open_ids = [v["id"] for v in verdict.vulnerabilities if (verdict.name, v["id"]) not in accepted and not any((verdict.name, a) in accepted for a in v.get("aliases", []))]
    if not open_ids:
        verdict.status, verdict.note = "ignored", "every vulnerability is in the ignore file: " + "; ".join(
            accepted.get((verdict.name, v["id"])) or next(accepted[(verdict.name, a)] for a in v.get("aliases", []) if (verdict.name, a) in accepted)
            for v in verdict.vulnerabilities)


def audit(pins: dict[str, str], direct: set[str], policy: AuditPolicy, pip_audit=run_pip_audit, project_lookup=latest_release_vulnerabilities) -> AuditResult:
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
    fallback = sorted(n for n, p in packages.items() if p.status == "not checked")
    if fallback:
        with requests.Session() as session, ThreadPoolExecutor(max_workers=8) as pool:
            answers = pool.map(lambda name: project_lookup(name, packages[name].version, session), fallback)
            for name, (status, vulns, note) in zip(fallback, answers, strict=True):
                verdict = packages[name]
                verdict.status, verdict.note, verdict.source = status, note, "PyPI project endpoint (latest release)"
                verdict.vulnerabilities = [{"id": v["id"], "aliases": v.get("aliases", []), "fix_versions": v.get("fixed_in", []), "summary": (v.get("summary") or v.get("details") or "")[:200]} for v in vulns]
        services.append(f"PyPI project endpoint (latest release only) for the {len(fallback)} pins still unanswered: "
                        f"{sum(packages[n].status != 'not checked' for n in fallback)} checked (pin = latest release), {sum(packages[n].status == 'not checked' for n in fallback)} not checked")
    for verdict in packages.values():
        if verdict.status == "not checked" and not verdict.note:
            verdict.note = "no vulnerability service answered for this pin"
        apply_policy(verdict, policy)
    stale = sorted(f"{n}=={v}" for n, v in policy.unchecked if pins.get(n) != v)
    if stale:
        services.append(f"accepted-unchecked entries that match no pin (remove them): {', '.join(stale)}")
    return AuditResult(packages, services)


def render_markdown(result: AuditResult, when: str) -> str:
    total = len(result.packages)
    failures = result.failures
    lines = [
        "# Dependency vulnerability audit",
        "",
        f"Generated {when} by `.venv/bin/python scripts/dependency_audit.py` over the {total} pins of `constraints.txt`.",
        "",
        (f"**Verdict: {'FAILED' if failures else 'passed'}.** Checked {result.checked()} of {total} pins"
         f" ({result.checked(direct=True)} of the {sum(p.direct for p in result.packages.values())} direct pins); vulnerable {result.count('vulnerable')},"
         f" accepted vulnerable {result.count('ignored')}, direct pins accepted unchecked {result.count('accepted')},"
         f" **{result.count('not checked')} not checked**: no verdict, not a clean bill of health."),
        "",
        *([f"- FAILED: {f}" for f in failures] + [""] if failures else []),
        "What each source answered:",
        "",
        *[f"- {s}" for s in result.services],
        "",
        "| package | pinned | direct | status | source | note |",
        "|---|---|---|---|---|---|",
    ]
    order = {"vulnerable": 0, "not checked": 1, "accepted": 2, "ignored": 3, "clean": 4}
    for p in sorted(result.packages.values(), key=lambda p: (not p.direct and p.status != "vulnerable", order[p.status], p.name)):
        if p.direct or p.status in ("vulnerable", "ignored", "clean"):
            ids = ", ".join(v["id"] for v in p.vulnerabilities)
            lines.append(f"| {p.name} | {p.version} | {'yes' if p.direct else 'no'} | {p.status}{f' ({ids})' if ids else ''} | {p.source or '-'} | {p.note} |")
    unchecked = sorted(p.name for p in result.packages.values() if p.status == "not checked" and not p.direct)
    if unchecked:
        lines += ["", f"Transitive pins not checked ({len(unchecked)}; they do not fail the gate): " + ", ".join(unchecked) + "."]
    return "\n".join(lines) + "\n"


def run_audit(report: Path) -> AuditResult:
    """Audit the lock file's pins, write the Markdown report, print a summary."""
    direct = {name for path in REQUIREMENTS for name in read_pins(path)}
    result = audit(read_pins(LOCK), direct, load_policy())
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(render_markdown(result, time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())))
    for line in result.services:
        print(line)
    print(f"checked {result.checked()} of {len(result.packages)} pins: clean {result.count('clean')}, vulnerable {result.count('vulnerable')},"
          f" accepted vulnerable {result.count('ignored')}; direct pins accepted unchecked {result.count('accepted')}; not checked {result.count('not checked')}; report: {report}")
    for failure in result.failures:
        print(f"FAILED: {failure}")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", type=Path, default=ROOT / "reports" / "dependency-audit.md")
    args = parser.parse_args(argv)
    return 1 if run_audit(args.report).failures else 0


if __name__ == "__main__":
    sys.exit(main())
