"""A real browser against the running platform: log in, open a model DAG, trigger it from the
form with a reason, see the run succeed, follow the task's extra link to MLflow.

Debian's Chromium driven by Playwright (``executable_path=/usr/bin/chromium``); screenshots go to
``test-output/browser/`` (git-ignored) (``CT_TEST_OUTPUT`` to change it). Without Chromium or Playwright the test
skips and says why; ``.ci/run`` installs Chromium so that CI never skips it.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import pytest

from include.registry import CHAMPION
from tests.stack.conftest import registry
from tests.support.processes import ROOT

pytestmark = pytest.mark.stack
MODEL = "penguin_species"
REASON = "browser test: new field season"
CHROMIUM = os.environ.get("CT_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
OUTPUT = Path(os.environ.get("CT_TEST_OUTPUT", ROOT / "test-output")) / "browser"
TIMEOUT_MS = 180_000  # a loaded 2-core machine renders the UI slowly; waits end as soon as the element shows


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"BROWSER TEST SKIPPED: no Chromium at {CHROMIUM}; install it with `apt-get install chromium` (.ci/run does)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        pytest.skip(f"BROWSER TEST SKIPPED: Playwright's Python package is missing ({exc}); `make install` installs it")
    OUTPUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            yield browser
        finally:
            browser.close()


def shot(page, name: str) -> Path:
    path = OUTPUT / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def test_log_in_trigger_with_a_reason_see_success_and_follow_the_link_to_mlflow(stack, browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()

    # Log in (SimpleAuthManager's form).
    page.goto(f"{stack.url}/")
    page.wait_for_url(re.compile(r".*/login.*"))
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(stack.password)
    shot(page, "01-login")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "login" not in url)

    # Open the model DAG (unpaused: the stack runs no schedule, so only our run starts).
    stack.api.patch(f"/dags/{MODEL}", {"is_paused": False})
    page.goto(f"{stack.url}/dags/{MODEL}")
    trigger_button = page.get_by_role("button", name=re.compile("^trigger", re.IGNORECASE)).first
    trigger_button.wait_for()
    shot(page, "02-dag")

    # The trigger form: our Params with their titles; a reason, and force retraining so that the
    # run trains and its train task links to an MLflow run.
    before = {r["dag_run_id"] for r in stack.runs(MODEL)}
    trigger_button.click()
    dialog = page.get_by_role("dialog")
    for title in ("Reason", "Force retraining", "Dry run", "Skip deployment", "Estimator overrides"):
        dialog.get_by_text(title).first.wait_for()
    dialog.locator("[name=element_reason]").fill(REASON)
    dialog.locator("input[name=element_force_retrain]").locator("xpath=..").click()
    shot(page, "03-trigger-form")
    dialog.get_by_role("button", name=re.compile("^trigger", re.IGNORECASE)).last.click()

    run_id = _wait_for_new_manual_run(stack, before)
    conf = stack.api.get(f"/dags/{MODEL}/dagRuns/{run_id}")["conf"]
    assert conf["reason"] == REASON and conf["force_retrain"] is True, conf
    run = _wait_until_finished(stack, run_id)
    assert run["state"] == "success", stack.task_states(MODEL, run_id)
    page.goto(f"{stack.url}/dags/{MODEL}/runs/{run_id}")
    page.get_by_text(re.compile("success", re.IGNORECASE)).first.wait_for()
    shot(page, "04-run-succeeded")

    # The reason went into the audit tags of the version this run trained.
    trained = [v for v in registry(stack).client.search_model_versions(f"name = '{MODEL}'") if v.tags.get("airflow_run_id") == run_id]
    assert trained and trained[0].tags["trigger_reason"] == REASON
    assert registry(stack).by_alias(MODEL, CHAMPION) is not None

    # The train task's extra link opens the MLflow run.
    page.goto(f"{stack.url}/dags/{MODEL}/runs/{run_id}/tasks/train")
    page.get_by_text("Details", exact=True).first.click()  # the UI lists extra links on this tab
    link = page.get_by_role("link", name="MLflow run").first
    link.wait_for()
    href = link.get_attribute("href")
    assert href.startswith(stack.mlflow_url) and trained[0].run_id in href
    shot(page, "05-task-links")
    mlflow = context.new_page()
    mlflow.goto(href)
    mlflow.get_by_text(re.compile("Overview|Parameters|Metrics", re.IGNORECASE)).first.wait_for()
    shot(mlflow, "06-mlflow-run")
    context.close()


def _wait_for_new_manual_run(stack, before: set[str], timeout_s: float = 60) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        new = [r for r in stack.runs(MODEL) if r["dag_run_id"] not in before and r["run_type"] == "manual"]
        if new:
            return new[0]["dag_run_id"]
        time.sleep(1)
    raise AssertionError(f"the trigger form created no manual run of {MODEL} within {timeout_s} s")


def _wait_until_finished(stack, run_id: str, timeout_s: float = 900) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        run = stack.api.get(f"/dags/{MODEL}/dagRuns/{run_id}")
        if run["state"] in ("success", "failed"):
            return run
        time.sleep(2)
    raise AssertionError(f"run {run_id} not finished in {timeout_s} s: {stack.task_states(MODEL, run_id)}")
