"""Evaluation plots: what a reviewer looks at before trusting a challenger.

Classification: confusion matrix, ROC and precision-recall (one-vs-rest when the model
gives probabilities). Regression: residuals against predictions. Both: permutation
feature importance on the holdout, and challenger vs champion side by side on the
same holdout. PNG files, small enough to read in the MLflow artifact viewer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from include.spec import ModelSpec


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display on workers
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    _pyplot().close(fig)
    return path


def raw_estimator(pyfunc_model):
    """The scikit-learn pipeline inside an MLflow pyfunc (for probabilities and importances)."""
    try:
        return pyfunc_model.get_raw_model()
    except Exception:  # noqa: BLE001 - another flavor: no probabilities, plots fall back
        return None


def confusion_matrix_plot(y_true, y_pred, out: Path) -> Path:
    from sklearn.metrics import ConfusionMatrixDisplay

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 5))
    ConfusionMatrixDisplay.from_predictions(y_true, y_pred, ax=ax, xticks_rotation=30, colorbar=False)
    ax.set_title("Confusion matrix (holdout)")
    return _save(fig, out / "confusion_matrix.png")


def roc_pr_plots(estimator, x, y_true, out: Path) -> list[Path]:
    from sklearn.metrics import PrecisionRecallDisplay, RocCurveDisplay
    from sklearn.preprocessing import label_binarize

    if estimator is None or not hasattr(estimator, "predict_proba"):
        return []
    plt = _pyplot()
    classes = list(estimator.classes_)
    scores = estimator.predict_proba(x)
    truth = label_binarize(y_true, classes=classes)
    if len(classes) == 2:
        truth = np.hstack([1 - truth, truth])
    fig_roc, ax_roc = plt.subplots(figsize=(6, 5))
    fig_pr, ax_pr = plt.subplots(figsize=(6, 5))
    for index, label in enumerate(classes):
        if truth[:, index].min() == truth[:, index].max():
            continue  # a class absent from the holdout has no curve
        RocCurveDisplay.from_predictions(truth[:, index], scores[:, index], name=str(label)[:30], ax=ax_roc)
        PrecisionRecallDisplay.from_predictions(truth[:, index], scores[:, index], name=str(label)[:30], ax=ax_pr)
    ax_roc.set_title("ROC, one class vs the rest (holdout)")
    ax_pr.set_title("Precision-recall, one class vs the rest (holdout)")
    return [_save(fig_roc, out / "roc.png"), _save(fig_pr, out / "precision_recall.png")]


def residuals_plot(y_true, y_pred, out: Path) -> Path:
    plt = _pyplot()
    y_true, y_pred = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    # A broken challenger may answer NaN (it is rejected for it): plot what can be plotted, say what was left out.
    finite = np.isfinite(y_true) & np.isfinite(y_pred)
    left_out = f", {int((~finite).sum())} non-finite predictions left out" if not finite.all() else ""
    y_true, y_pred = y_true[finite], y_pred[finite]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.scatter(y_pred, y_true - y_pred, s=8, alpha=0.6)
    left.axhline(0, color="grey", lw=1)
    left.set(xlabel="predicted", ylabel="actual - predicted", title=f"Residuals (holdout{left_out})")
    right.hist(y_true - y_pred, bins=30)
    right.set(xlabel="actual - predicted", title="Residual distribution")
    return _save(fig, out / "residuals.png")


def feature_importance_plot(estimator, x, y_true, spec: ModelSpec, out: Path) -> Path | None:
    """Permutation importance: model-agnostic, measured on the holdout with the spec's primary metric."""
    from sklearn.inspection import permutation_importance

    if estimator is None:
        return None
    scoring = {"rmse": "neg_root_mean_squared_error", "mae": "neg_mean_absolute_error", "f1_macro": "f1_macro"}.get(
        spec.evaluation.primary_metric, spec.evaluation.primary_metric
    )
    result = permutation_importance(estimator, x, y_true, scoring=scoring, n_repeats=5, random_state=0)
    order = np.argsort(result.importances_mean)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 0.4 * len(order) + 1.5))
    ax.barh([x.columns[i] for i in order], result.importances_mean[order], xerr=result.importances_std[order])
    ax.set(title=f"Permutation importance ({spec.evaluation.primary_metric}, holdout)", xlabel="score drop when shuffled")
    return _save(fig, out / "feature_importance.png")


def comparison_plot(report: dict, out: Path) -> Path:
    """Challenger and champion bars per metric, with the thresholds as lines."""
    plt = _pyplot()
    metrics = list(report["challenger"])
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics), 3.6), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        labels = [f"challenger v{report['challenger_version']}"]
        values = [report["challenger"][metric]]
        if report.get("champion"):
            labels.append(f"champion v{report['champion_version']}")
            values.append(report["champion"][metric])
        ax.bar(labels, values, color=["#0194e2", "#f4a261"][: len(values)])
        bound = report["thresholds"].get(metric) or {}
        for side in ("min", "max"):
            if bound.get(side) is not None:
                ax.axhline(bound[side], color="red", ls="--", lw=1, label=f"{side} {bound[side]}")
        ax.set_title(metric)
        ax.tick_params(axis="x", labelsize=8)
    fig.suptitle(f"Challenger vs champion on the same holdout: {'PROMOTE' if report['promote'] else 'REJECT'}")
    return _save(fig, out / "challenger_vs_champion.png")


def evaluation_plots(spec: ModelSpec, challenger_model, x, y_true, report: dict, out: Path) -> list[Path]:
    """All plots for one evaluated challenger, written to ``out``; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    y_pred = np.asarray(challenger_model.predict(x))
    estimator = raw_estimator(challenger_model)
    paths = [comparison_plot(report, out)]
    if spec.task == "classification":
        paths += [confusion_matrix_plot(y_true, y_pred, out), *roc_pr_plots(estimator, x, y_true, out)]
    else:
        paths.append(residuals_plot(y_true, y_pred, out))
    importance = feature_importance_plot(estimator, x, y_true, spec, out)
    return [p for p in [*paths, importance] if p is not None]
