"""What ``make status`` reports for one model: champion, its data and metrics, what is served."""

from __future__ import annotations

from pathlib import Path

import requests

from include.errors import SpecError
from include.registry import CHAMPION, PREVIOUS, Registry
from include.settings import Settings
from include.spec import load_spec


def model_status(spec_path: Path, settings: Settings) -> dict:
    try:
        spec = load_spec(spec_path)
    except SpecError as error:
        return {"model": spec_path.stem, "error": str(error)}
    endpoint = f"{settings.serving_url}/models/{spec.name}/invocations"
    entry: dict = {"model": spec.name, "owner": spec.owner.team, "task": spec.task, "endpoint": endpoint}
    registry = Registry(settings.mlflow_tracking_uri, settings.mlflow_artifact_root)
    try:
        champion = registry.by_alias(spec.name, CHAMPION)
        previous = registry.by_alias(spec.name, PREVIOUS)
    except Exception as exc:  # noqa: BLE001 - no registered model yet, or the store is unreachable
        champion, previous = None, None
        entry["registry"] = f"{type(exc).__name__}: {str(exc)[:200]}"
    if champion is not None:
        metrics = registry.client.get_run(champion.run_id).data.metrics if champion.run_id else {}
        entry["champion"] = {
            "version": champion.version,
            "metrics": {k.removeprefix("eval_challenger_"): v for k, v in metrics.items() if k.startswith("eval_challenger_")},
            "data_md5": champion.tags.get("data_md5"),
            "fingerprint": champion.tags.get("fingerprint"),
            "git_commit": champion.tags.get("git_commit"),
            "promoted_at": champion.tags.get("promoted_at"),
            "promotion_reason": champion.tags.get("promotion_reason"),
        }
    else:
        entry["champion"] = None
    entry["previous_version"] = previous.version if previous else None
    try:
        response = requests.get(f"{settings.serving_url}/models/{spec.name}", timeout=5)
        entry["served_version"] = response.json()["version"] if response.status_code == 200 else None
    except requests.RequestException:
        entry["served_version"] = "model server is not running"
    return entry
