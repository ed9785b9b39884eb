"""Promotion: move the ``champion`` alias, keep the former champion as ``previous``.

The audit trail is written on the version before the alias moves, so no
champion ever lacks it: who or what promoted it, when, why, and which Airflow
run did.
"""

from __future__ import annotations

from datetime import datetime, timezone

from include.registry import CHAMPION, PREVIOUS, Registry


def promote(registry: Registry, name: str, version: str, reason: str, promoted_by: str, airflow_run_id: str = "") -> dict:
    current = registry.by_alias(name, CHAMPION)
    if current is not None and current.version == str(version):
        return {"model": name, "champion": str(version), "previous": None, "action": "already champion"}
    registry.tag_version(
        name,
        version,
        {
            "promoted_by": promoted_by,
            "promoted_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "promotion_reason": reason,
            "promotion_airflow_run_id": airflow_run_id,
            "replaced_version": current.version if current else "none",
        },
    )
    if current is not None:
        registry.set_alias(name, PREVIOUS, current.version)
    registry.set_alias(name, CHAMPION, version)
    return {"model": name, "champion": str(version), "previous": current.version if current else None, "action": "promoted"}
