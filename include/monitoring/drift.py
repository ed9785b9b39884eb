"""Per-feature drift between the champion's training snapshot and live inputs (scipy.stats).

Numeric features: the two-sample Kolmogorov-Smirnov test (``scipy.stats.ks_2samp``); its
statistic D is the largest gap between the two empirical CDFs. Categorical features:
Pearson's chi-square test of homogeneity on the category counts
(``scipy.stats.chi2_contingency``), with Cramér's V (``scipy.stats.contingency.association``)
as the effect size. A feature drifts when the test is significant AND the effect is large
enough: with thousands of rows a p-value alone flags differences nobody should retrain for.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    kind: str  # numeric | categorical
    test: str  # ks | chi2
    statistic: float  # KS D, or Cramér's V for chi-square (both in [0, 1])
    p_value: float
    reference_rows: int
    live_rows: int
    drifted: bool

    def to_dict(self) -> dict:
        return asdict(self)


def numeric_drift(feature: str, reference: pd.Series, live: pd.Series, p_value: float, min_statistic: float) -> FeatureDrift:
    from scipy import stats

    ref, cur = pd.to_numeric(reference, errors="coerce").dropna(), pd.to_numeric(live, errors="coerce").dropna()
    if ref.empty or cur.empty:
        raise ValueError(f"feature {feature!r}: drift needs values on both sides; found {len(ref)} reference and {len(cur)} live non-null values")
    result = stats.ks_2samp(ref.to_numpy(dtype=float), cur.to_numpy(dtype=float))
    statistic, p = float(result.statistic), float(result.pvalue)
    return FeatureDrift(feature, "numeric", "ks", statistic, p, len(ref), len(cur), p < p_value and statistic >= min_statistic)


def categorical_drift(feature: str, reference: pd.Series, live: pd.Series, p_value: float, min_statistic: float) -> FeatureDrift:
    from scipy import stats
    from scipy.stats.contingency import association

    # Missing values are a category of their own: a source that starts sending nulls has drifted.
    ref, cur = reference.astype("object").fillna("<null>").astype(str), live.astype("object").fillna("<null>").astype(str)
    if ref.empty or cur.empty:
        raise ValueError(f"feature {feature!r}: drift needs values on both sides; found {len(ref)} reference and {len(cur)} live values")
    categories = sorted(set(ref) | set(cur))
    table = [[int((ref == c).sum()) for c in categories], [int((cur == c).sum()) for c in categories]]
    if len(categories) < 2:  # one category on both sides: identical distributions
        return FeatureDrift(feature, "categorical", "chi2", 0.0, 1.0, len(ref), len(cur), False)
    chi2 = stats.chi2_contingency(table)
    v = float(association(table, method="cramer"))
    p = float(chi2.pvalue)
    return FeatureDrift(feature, "categorical", "chi2", v, p, len(ref), len(cur), p < p_value and v >= min_statistic)


def feature_drift(reference: pd.DataFrame, live: pd.DataFrame, numeric: list[str], categorical: list[str], p_value: float, min_statistic: float) -> list[FeatureDrift]:
    """One result per feature, numeric first, in spec order."""
    missing = [(side, c) for side, frame in (("reference", reference), ("live", live)) for c in [*numeric, *categorical] if c not in frame.columns]
    if missing:
        raise ValueError(f"drift: expected every feature in both the training snapshot and the live inputs; missing {missing}")
    return [
        *(numeric_drift(f, reference[f], live[f], p_value, min_statistic) for f in numeric),
        *(categorical_drift(f, reference[f], live[f], p_value, min_statistic) for f in categorical),
    ]
