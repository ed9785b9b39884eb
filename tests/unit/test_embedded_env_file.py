"""``source .state/env.sh`` (what `make run` prints and the README shows) makes the venv's ``airflow`` usable."""

from __future__ import annotations

import importlib.util
import os
import subprocess
from pathlib import Path

from include.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def _embedded():
    spec = importlib.util.spec_from_file_location("ct_embedded", ROOT / "scripts" / "embedded.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sourcing_env_sh_in_a_shell_without_the_venv_runs_the_venvs_airflow(tmp_path):
    embedded = _embedded()
    settings = Settings.from_env({"CT_HOME": str(tmp_path / "state")})
    env_sh = embedded.write_env_file(settings, embedded.environment(settings))
    # A login shell's PATH, without the venv (as after `make run` in another terminal).
    shell = {"HOME": str(tmp_path), "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
    out = subprocess.run(["bash", "-c", f"source {env_sh} && command -v airflow && airflow version"],
                         env=shell, capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, f"exit {out.returncode}\n{out.stdout}\n{out.stderr[-3000:]}"
    where, version = out.stdout.strip().splitlines()[0], out.stdout.strip().splitlines()[-1]
    assert where == str(embedded.VENV_BIN / "airflow")
    assert version.startswith("3."), out.stdout
    # The caller's PATH is kept after the venv, not replaced by the PATH of whoever ran `make run`.
    path = subprocess.run(["bash", "-c", f"source {env_sh} && echo $PATH"], env=shell, capture_output=True, text=True, timeout=30, check=True).stdout.strip()
    assert path == f"{embedded.VENV_BIN}{os.pathsep}{shell['PATH']}"
