"""Scoring a model on the holdout, and the promotion decision.

The decision is a pure function of the metrics and the spec so that it can be
tested exhaustively; its reason is written in words because it ends up as a tag
on the model version that an auditor reads.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from include.spec import METRICS, ModelSpec


def missing_predictions(y_pred: np.ndarray) -> int:
    """How many predictions are NaN or None (numeric and class labels alike)."""
    import pandas as pd

    return int(pd.isna(y_pred).sum())


def compute_metrics(names: list[str], y_true, y_pred) -> dict[str, float]:
    from sklearn import metrics as m

    y_pred = np.asarray(y_pred)
    if missing_predictions(y_pred):
        # A model that answers NaN is broken, whatever its other scores.
        return {name: float("nan") for name in names}
    scorers = {
        "accuracy": lambda: m.accuracy_score(y_true, y_pred),
        "balanced_accuracy": lambda: m.balanced_accuracy_score(y_true, y_pred),
        "f1_macro": lambda: m.f1_score(y_true, y_pred, average="macro"),
        "rmse": lambda: m.root_mean_squared_error(y_true, y_pred),
        "mae": lambda: m.mean_absolute_error(y_true, y_pred),
        "r2": lambda: m.r2_score(y_true, y_pred),
    }
    return {name: float(scorers[name]()) for name in names}


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str

    def to_dict(self) -> dict:
        return asdict(self)


def threshold_failures(spec: ModelSpec, scores: dict[str, float], thresholds: dict | None = None) -> list[str]:
    failures = []
    for metric, bound in (spec.evaluation.thresholds if thresholds is None else thresholds).items():
        value = scores.get(metric, float("nan"))
        if np.isnan(value):
            failures.append(f"{metric} is NaN")
        elif bound.min is not None and value < bound.min:
            failures.append(f"{metric} {value:.4f} < min {bound.min}")
        elif bound.max is not None and value > bound.max:
            failures.append(f"{metric} {value:.4f} > max {bound.max}")
    return failures


# A gain this close to the margin (relative to the metric) is float noise between two fits, not a better model.
GAIN_TOLERANCE = 1e-9


def beats_by_more_than(gain: float, margin: float, scale: float) -> bool:
    """``gain > margin``, where a gain within ``GAIN_TOLERANCE`` of the margin counts as equal to it."""
    return gain - margin > GAIN_TOLERANCE * max(1.0, abs(scale))


def decide(spec: ModelSpec, challenger: dict[str, float], champion: dict[str, float] | None) -> Decision:
    """Promote only if the thresholds pass and the challenger beats the champion by MORE than the margin.

    An equal score never promotes, even with margin 0: two fits on unchanged data would otherwise
    replace each other night after night (churn) without anything getting better.
    """
    failures = threshold_failures(spec, challenger)
    if failures:
        return Decision(False, "fails the absolute thresholds: " + "; ".join(failures))
    metric = spec.evaluation.primary_metric
    margin = spec.evaluation.promotion_margin
    new = challenger[metric]
    if np.isnan(new):
        return Decision(False, f"{metric} is NaN")
    if champion is None:
        return Decision(True, f"first model: passes the thresholds ({metric} {new:.4f})")
    old = champion[metric]
    gain = (new - old) if METRICS[metric]["higher_is_better"] else (old - new)
    comparison = f"{metric} {new:.4f} vs champion {old:.4f} on the same holdout (gain {_signed(gain)}, must be more than the margin {margin})"
    if np.isnan(old) or beats_by_more_than(gain, margin, old):
        return Decision(True, "beats the champion: " + comparison)
    return Decision(False, "does not beat the champion: " + comparison)


def _signed(gain: float) -> str:
    """+0.0500; a gain too small for four decimals is written out (+3.00e-05), never as +0.0000."""
    return f"{gain:+.4f}" if gain == 0 or abs(gain) >= 5e-5 or np.isnan(gain) else f"{gain:+.2e}"


def refit_of_champion(challenger_tags: dict, champion_tags: dict, champion_version: str) -> str:
    """Why the challenger is the champion trained again ('' if it is not).

    The same fingerprint means the same data (DVC md5), the same training configuration, the same
    training code and the same library versions: the platform's own definition of "the same model"
    (its skip rule). Such a challenger differs from the champion only by the chance of the fit; a
    metric gain is noise, and promoting it would churn the champion. A changed code or library is a
    different model and is judged on its metric like any other.
    """
    mine, theirs = challenger_tags.get("fingerprint"), champion_tags.get("fingerprint")
    if not mine or mine != theirs:
        return ""
    return (
        f"a refit of champion version {champion_version}: the same data (md5 {challenger_tags.get('data_md5', '?')}), training configuration, "
        f"code and libraries (fingerprint {mine[:12]}); it can only differ by chance, so it never replaces the champion "
        "(new data, or a change to the configuration, code or libraries, makes a challenger that can)"
    )


def slice_failures(spec: ModelSpec, holdout_x, y_true, y_pred) -> tuple[list[str], list[dict]]:
    """Thresholds checked on each slice of the holdout (``evaluation.slices``).

    A model better on average can be much worse for one island, one product line, one
    region; the average hides it, the slice shows it. Slices smaller than ``min_rows``
    are reported but not judged: a metric on five rows is noise.
    """
    slices = spec.evaluation.slices
    if slices is None:
        return [], []
    failures, report = [], []
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    for column in slices.by:
        values = holdout_x[column].astype("object").where(holdout_x[column].notna(), "<missing>")
        for value in sorted(values.unique(), key=str):
            mask = (values == value).to_numpy()
            rows = int(mask.sum())
            entry = {"column": column, "value": str(value), "rows": rows, "judged": rows >= slices.min_rows}
            if entry["judged"]:
                entry["metrics"] = compute_metrics(spec.evaluation.metrics, y_true[mask], y_pred[mask])
                failed = threshold_failures(spec, entry["metrics"], slices.thresholds or None)
                failures += [f"slice {column}={value} ({rows} rows): {f}" for f in failed]
            report.append(entry)
    return failures, report


def _score_challenger(spec: ModelSpec, registry, challenger, x, y) -> tuple[dict, list[str], list[dict], str | None]:
    """Scores, slice failures and slice report of the challenger; a model that cannot load or predict is a verdict."""
    try:
        predictions = registry.load(challenger).predict(x)
    except Exception as exc:  # noqa: BLE001 - whatever the model raises is a verdict on it, not a fault to retry
        problem = f"challenger version {challenger.version} cannot be loaded or cannot predict: {type(exc).__name__}: {str(exc)[:300]}"
        return {name: float("nan") for name in spec.evaluation.metrics}, [], [], problem
    predictions = np.asarray(predictions)
    if missing := missing_predictions(predictions):
        problem = f"challenger version {challenger.version} predicted NaN or nothing for {missing} of {len(predictions)} holdout rows"
        return compute_metrics(spec.evaluation.metrics, y, predictions), [], [], problem
    failures, report = slice_failures(spec, x, y, predictions)
    return compute_metrics(spec.evaluation.metrics, y, predictions), failures, report, None


def evaluate_challenger(spec: ModelSpec, snapshot, registry, challenger_version: str) -> dict:
    """Score challenger and champion on the same holdout of the same snapshot, and decide.

    The result (metrics of both, decision, reason) is logged to the challenger's
    MLflow run and tagged on its model version.
    """
    from include.preprocessing import features_and_target, split_holdout
    from include.registry import CHAMPION

    _, holdout = split_holdout(snapshot, spec.source.date_column, spec.evaluation.holdout_fraction)
    x, y = features_and_target(holdout, spec)
    challenger = registry.version(spec.name, challenger_version)
    challenger_scores, failed_slices, slice_report, challenger_problem = _score_challenger(spec, registry, challenger, x, y)
    champion = registry.by_alias(spec.name, CHAMPION)
    champion_scores, champion_problem = None, None
    if champion is not None and champion.version != challenger.version:
        # A champion that cannot load, or cannot score today's features (the spec changed), cannot
        # be defended: the challenger is judged on the thresholds alone, and the report says why.
        try:
            champion_scores = compute_metrics(spec.evaluation.metrics, y, registry.load(champion).predict(x))
        except Exception as exc:  # noqa: BLE001 - a champion that cannot score must not block a good challenger
            champion_problem = f"champion version {champion.version} could not be scored on this holdout: {type(exc).__name__}: {str(exc)[:300]}"
    decision = decide(spec, challenger_scores, champion_scores)
    refit = refit_of_champion(challenger.tags, champion.tags, champion.version) if champion is not None and champion.version != challenger.version else ""
    if challenger_problem:
        decision = Decision(False, challenger_problem)
    elif refit and decision.promote and champion_problem is None:
        # (A champion that cannot be scored any more may be replaced by its working refit: a repair, not churn.)
        decision = Decision(False, f"{refit}; {decision.reason}")
    elif failed_slices and decision.promote:
        decision = Decision(False, "fails the thresholds on a slice of the holdout: " + "; ".join(failed_slices))
    if champion_problem:
        verdict = decision.reason.removeprefix("first model: ")  # there is a champion; it just cannot compete
        decision = Decision(decision.promote, f"{verdict}; {champion_problem}")
    report = {
        "model": spec.name,
        "challenger_version": challenger.version,
        "challenger_run_id": challenger.run_id,
        "champion_version": champion.version if champion else None,
        "holdout_rows": len(holdout),
        "holdout_from": str(holdout[spec.source.date_column].min()),
        "holdout_to": str(holdout[spec.source.date_column].max()),
        "challenger": challenger_scores,
        "champion": champion_scores,
        "thresholds": {k: v.model_dump() for k, v in spec.evaluation.thresholds.items()},
        "primary_metric": spec.evaluation.primary_metric,
        "promotion_margin": spec.evaluation.promotion_margin,
        "champion_problem": champion_problem,
        "slices": slice_report,
        **decision.to_dict(),
    }
    client = registry.client
    for name, value in challenger_scores.items():
        client.log_metric(challenger.run_id, f"eval_challenger_{name}", value)
    for name, value in (champion_scores or {}).items():
        client.log_metric(challenger.run_id, f"eval_champion_{name}", value)
    client.log_dict(challenger.run_id, report, "evaluation/report.json")
    registry.tag_version(
        spec.name,
        challenger.version,
        {
            "decision": "promote" if decision.promote else "reject",
            "decision_reason": decision.reason,
            "compared_with_champion": champion.version if champion else "none",
        },
    )
    return report
