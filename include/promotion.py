"""Promotion: move the ``champion`` alias, keep the former champion as ``previous``.

The audit trail is written on the version before the alias moves, so no
champion ever lacks it: who or what promoted it, when, why, and which Airflow
run did.
"""

from __future__ import annotations

from datetime import UTC, datetime

from include.errors import PromotionSupersededError
from include.registry import CHAMPION, PREVIOUS, Registry

NO_CHAMPION = "none"
# expected_champion when the caller compared against nothing in particular (a manual promotion).
ANY_CHAMPION = "any"

def _as_version(value) -> str:
    """An XCom'd champion version: None (no champion at evaluation) arrives as None, "None" or ""."""
    return NO_CHAMPION if value in (None, "", "None", "none") else str(value)


def older_than_champion(current, data_until: str) -> str:
    """Why a model trained on data up to ``data_until`` must not replace ``current`` ('' if it may).

    A backfill trains yesterday's model after today's: without this guard the last
    backfilled day would quietly replace a newer champion.
    """
    champion_until = (current.tags.get("data_until") or "") if current is not None else ""
    if data_until and champion_until and data_until < champion_until:
        return (
            f"version trained on data up to {data_until} is older than champion version {current.version} (data up to {champion_until}); "
            "trigger with allow_older_champion to promote it anyway"
        )
    return ""


def promote(
    registry: Registry, name: str, version: str, reason: str, promoted_by: str, airflow_run_id: str = "", expected_champion=ANY_CHAMPION,
    data_until: str = "", allow_older: bool = False, trigger_reason: str = "",
) -> dict:
    """Move ``champion`` to ``version``; with ``expected_champion`` only if the champion is still that one.

    The challenger was judged against the champion of its evaluation. If another run (a backfill, a
    concurrent nightly) promoted in between, that verdict is stale: refuse, tag the challenger
    ``promotion_superseded`` and leave the aliases alone. A model trained on older data than the
    champion's never replaces it unless ``allow_older`` says so (a backfill's guard).
    """
    current = registry.by_alias(name, CHAMPION)
    if current is not None and current.version == str(version):
        return {"model": name, "champion": str(version), "previous": None, "action": "already champion"}
    found = current.version if current else NO_CHAMPION
    if expected_champion != ANY_CHAMPION and found != _as_version(expected_champion):
        message = (
            f"{name} version {version} was evaluated against champion {_as_version(expected_champion)}, "
            f"but the champion is now {found} (promoted by {(current.tags.get('promotion_airflow_run_id') if current else None) or 'another run'}): "
            "not promoting on a stale comparison; the next run compares against the new champion"
        )
        registry.tag_version(name, version, {"promotion_superseded": found, "promotion_superseded_reason": message})
        raise PromotionSupersededError(message)
    why_not = older_than_champion(current, data_until)
    if why_not and not allow_older:
        registry.tag_version(name, version, {"promotion_blocked": why_not})
        return {"model": name, "champion": current.version, "previous": None, "action": "kept newer champion", "why": why_not}
    registry.tag_version(
        name,
        version,
        {
            "promoted_by": promoted_by,
            "promoted_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "promotion_reason": reason,
            "promotion_airflow_run_id": airflow_run_id,
            "replaced_version": current.version if current else "none",
            "promotion_trigger_reason": trigger_reason,
            "promotion_allowed_older": "true" if why_not else "false",
        },
    )
    if current is not None:
        registry.set_alias(name, PREVIOUS, current.version)
    registry.set_alias(name, CHAMPION, version)
    return {"model": name, "champion": str(version), "previous": current.version if current else None, "action": "promoted"}
