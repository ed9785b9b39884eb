"""Turning a snapshot into model inputs: the time-ordered holdout and the feature pipeline.

Everything here shapes the trained model, so this file is part of the training
fingerprint (see ``include/fingerprint.py``): editing it retrains every model.
"""

from __future__ import annotations

import importlib
import math

import pandas as pd

from include.spec import ModelSpec


def split_holdout(frame: pd.DataFrame, date_column: str, fraction: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The latest ``fraction`` of rows (by date) is the holdout.

    A time split, not a random one: the champion was trained on an earlier
    window, so it has never seen the latest days either, and challenger and
    champion are compared on data neither was fitted on.
    """
    ordered = frame.sort_values(date_column, kind="stable").reset_index(drop=True)
    n_holdout = max(1, math.ceil(len(ordered) * fraction))
    return ordered.iloc[:-n_holdout], ordered.iloc[-n_holdout:]


def features_and_target(frame: pd.DataFrame, spec: ModelSpec) -> tuple[pd.DataFrame, pd.Series]:
    return frame[spec.features.all], frame[spec.target]


def load_estimator_class(import_path: str) -> type:
    module_name, _, class_name = import_path.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise ImportError(f"estimator.class: cannot import {import_path!r}: {exc}") from exc


def build_pipeline(spec: ModelSpec):
    """Imputation and one-hot encoding in front of the spec's estimator, as one sklearn Pipeline.

    Shipping the preprocessing inside the model means the server accepts raw
    feature values, and training and serving cannot disagree about them.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    transformers = []
    if spec.features.numeric:
        transformers.append(("numeric", SimpleImputer(strategy="median"), spec.features.numeric))
    if spec.features.categorical:
        categorical = Pipeline(
            [
                ("impute", SimpleImputer(strategy="most_frequent")),
                ("one_hot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
            ]
        )
        transformers.append(("categorical", categorical, spec.features.categorical))
    estimator = load_estimator_class(spec.estimator.class_)(**spec.estimator.params)
    return Pipeline([("features", ColumnTransformer(transformers)), ("estimator", estimator)])
