"""No credential in the repository: every tracked file is scanned with detect-secrets.

A finding fails the test unless tests/security/secrets_allowlist.yaml lists it with a reason
(or its line carries `# pragma: allowlist secret`). Secret files (.env, keys, the embedded
platform's password and token files) must not be tracked at all, and .env.example holds
placeholders only.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ALLOWLIST = Path(__file__).with_name("secrets_allowlist.yaml")
SECRET_FILE_NAMES = re.compile(r"(^|/)(\.env|.*\.pem|.*\.key|id_rsa.*|id_ed25519.*|passwords\.json|admin_token|.*\.p12|.*\.pfx|\.netrc|\.pypirc)$")
SECRET_VARIABLE = re.compile(r"PASSWORD|SECRET|TOKEN|FERNET|_KEY$")


def tracked_files() -> list[str]:
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.fail(f"cannot list tracked files with git (needed to scan them for secrets): {exc}")
    return [f for f in out.decode().split("\0") if f and (ROOT / f).is_file()]


def findings(files: list[str]) -> list[dict]:
    from detect_secrets import SecretsCollection
    from detect_secrets.settings import default_settings

    collection = SecretsCollection(root=str(ROOT))
    with default_settings():
        for name in files:
            collection.scan_file(name)
    return [{"file": name, "type": s.type, "hashed_secret": s.secret_hash, "line": s.line_number} for name, s in collection]


def test_no_secret_looking_string_is_tracked():
    files = tracked_files()
    assert len(files) > 50 and "include/serving/app.py" in files  # the scan sees the repository
    allowed = {(e["file"], e["type"], e["hashed_secret"]) for e in yaml.safe_load(ALLOWLIST.read_text())}
    found = findings([f for f in files if f != str(ALLOWLIST.relative_to(ROOT))])  # it holds only hashes
    unexpected = [f for f in found if (f["file"], f["type"], f["hashed_secret"]) not in allowed]
    assert not unexpected, (
        "detect-secrets found secret-looking strings in tracked files:\n"
        + "\n".join(f"  {f['file']}:{f['line']}: {f['type']} (hashed_secret {f['hashed_secret']})" for f in unexpected)
        + "\nRemove the credential (use an Airflow connection or an environment variable); if it is a fake value,"
        " add '# pragma: allowlist secret' on its line or an entry with a reason to " + str(ALLOWLIST.relative_to(ROOT))
    )


def test_the_scanner_catches_a_real_looking_credential(tmp_path, monkeypatch):
    """The same scan on a planted file: proves the detectors are on, not just that nothing matched."""
    monkeypatch.chdir(tmp_path)
    planted = tmp_path / "settings.py"
    # Assembled at run time, so that this file itself holds no credential-shaped string.
    key, password = "AKIA" + "IOSFODNN7EXAMPLQ", "Xk9vQ2" + "mLp7Rt"  # pragma: allowlist secret
    planted.write_text(f'AWS_ACCESS_KEY_ID = "{key}"\nDB_URL = "postgresql://ct:{password}@db:5432/ct"\n')
    from detect_secrets import SecretsCollection
    from detect_secrets.settings import default_settings

    collection = SecretsCollection(root=str(tmp_path))
    with default_settings():
        collection.scan_file("settings.py")
    types = {s.type for _, s in collection}
    assert {"AWS Access Key", "Basic Auth Credentials"} <= types, types


def test_no_secret_file_is_tracked():
    leaked = [f for f in tracked_files() if SECRET_FILE_NAMES.search(f)]
    assert leaked == [], f"secret files are tracked by git: {leaked}; remove them (git rm --cached) and rotate what they held"


def test_env_example_holds_placeholders_only():
    for number, line in enumerate((ROOT / ".env.example").read_text().splitlines(), 1):
        key, sep, value = line.partition("=")
        if sep and not line.lstrip().startswith("#") and SECRET_VARIABLE.search(key.strip()):
            assert value.strip() == "CHANGE_ME", f".env.example:{number}: {key.strip()} must be the placeholder CHANGE_ME, found {value.strip()!r}"
