"""Traffic scenarios for a served model, sent over HTTP like any client would.

- ``from_training``: rows drawn (with replacement) from the training data: nothing should drift.
- ``shifted``: the same rows with every numeric feature moved by ``sigmas`` standard deviations
  and categorical features collapsed onto their rarest category: drift on every feature.
- ``replay``: rows of *later* data sent as predictions, then their real target fed back as
  outcomes, joined on the request id the server returned: the ground-truth loop.
- ``degrade``: outcomes that disagree with the predictions (a regression target moved by
  ``offset``, a class replaced by another one): live quality falls below any sane threshold.

Used by the tests and by hand: ``python -m include.monitoring.scenarios URL MODEL shifted --rows 200``.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd
import requests

from include.spec import ModelSpec


def from_training(spec: ModelSpec, training: pd.DataFrame, rows: int, seed: int = 0) -> pd.DataFrame:
    return training.sample(n=rows, replace=True, random_state=seed)[[*spec.features.all, spec.target]].reset_index(drop=True)


def shifted(spec: ModelSpec, training: pd.DataFrame, rows: int, sigmas: float = 3.0, seed: int = 0) -> pd.DataFrame:
    frame = from_training(spec, training, rows, seed)
    for column in spec.features.numeric:
        values = pd.to_numeric(frame[column])
        frame[column] = values + sigmas * float(pd.to_numeric(training[column]).std())
        bounds = spec.expectations.columns[column]
        # Stay inside the declared range: shifted traffic must be scored, not refused.
        frame[column] = frame[column].clip(lower=bounds.min, upper=bounds.max)
    for column in spec.features.categorical:
        counts = training[column].dropna().value_counts()
        frame[column] = counts.index[-1]
    return frame


def degrade(spec: ModelSpec, predictions: list, offset: float = 15.0, seed: int = 0) -> list:
    """Outcomes that the predictions get badly wrong."""
    if spec.task == "regression":
        return [float(p) + offset for p in predictions]
    classes = sorted({str(p) for p in predictions} | set(spec.expectations.columns[spec.target].allowed or []))
    rng = np.random.default_rng(seed)
    return [str(rng.choice([c for c in classes if c != str(p)] or classes)) for p in predictions]


def _jsonable(value):
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def send(url: str, model: str, features: pd.DataFrame, headers: dict | None = None, batch: int = 20, timeout_s: float = 30) -> list[tuple[str, int, object]]:
    """POST the rows in batches; returns ``(request_id, row, prediction)`` per row (raises on a non-2xx)."""
    answered = []
    for begin in range(0, len(features), batch):
        chunk = features.iloc[begin : begin + batch]
        body = {"dataframe_split": {"columns": list(chunk.columns), "data": [[_jsonable(v) for v in row] for row in chunk.itertuples(index=False)]}}
        response = requests.post(f"{url}/models/{model}/invocations", json=body, headers=headers or {}, timeout=timeout_s)
        if response.status_code != 200:
            raise RuntimeError(f"{model}: expected 200 from {url}, found {response.status_code}: {response.text[:500]}")
        request_id = response.headers["X-Request-Id"]
        answered += [(request_id, i, p) for i, p in enumerate(response.json()["predictions"])]
    return answered


def feed_outcomes(url: str, model: str, answered: list[tuple[str, int, object]], actuals: list, headers: dict | None = None, timeout_s: float = 30) -> int:
    outcomes = [{"request_id": rid, "row": row, "actual": _jsonable(actual)} for (rid, row, _), actual in zip(answered, actuals)]
    response = requests.post(f"{url}/models/{model}/outcomes", json={"outcomes": outcomes}, headers=headers or {}, timeout=timeout_s)
    if response.status_code != 200:
        raise RuntimeError(f"{model}: outcomes refused by {url}: {response.status_code} {response.text[:500]}")
    return response.json()["recorded"]


def replay(url: str, spec: ModelSpec, later: pd.DataFrame, headers: dict | None = None) -> int:
    """Serve later data and feed its real target back: the ground-truth loop of the example models."""
    later = later.dropna(subset=[spec.target])
    answered = send(url, spec.name, later[spec.features.all], headers)
    return feed_outcomes(url, spec.name, answered, later[spec.target].tolist(), headers)


def main(argv: list[str] | None = None) -> None:
    from include.demo_data import penguins_raw, seattle_weather
    from include.settings import MODELS_DIR
    from include.spec import load_spec

    parser = argparse.ArgumentParser(description="Send a traffic scenario to a model server (loopback or not: you choose the URL).")
    parser.add_argument("url")
    parser.add_argument("model", choices=["seattle_temp_max", "penguin_species"])
    parser.add_argument("scenario", choices=["from_training", "shifted", "degraded"])
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--token", default=None)
    args = parser.parse_args(argv)
    spec = load_spec(MODELS_DIR / f"{args.model}.yaml")
    data = seattle_weather() if args.model == "seattle_temp_max" else demo_penguins(penguins_raw())
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    frame = shifted(spec, data, args.rows) if args.scenario == "shifted" else from_training(spec, data, args.rows)
    answered = send(args.url, spec.name, frame[spec.features.all], headers)
    actuals = degrade(spec, [p for _, _, p in answered]) if args.scenario == "degraded" else frame[spec.target].tolist()
    print(json.dumps({"sent": len(answered), "outcomes": feed_outcomes(args.url, spec.name, answered, actuals, headers)}))


def demo_penguins(raw: pd.DataFrame) -> pd.DataFrame:
    """The raw penguin table under the column names the model spec uses (as its SQL query renames them)."""
    names = {"Species": "species", "Island": "island", "Sex": "sex", "Culmen Length (mm)": "culmen_length_mm", "Culmen Depth (mm)": "culmen_depth_mm",
             "Flipper Length (mm)": "flipper_length_mm", "Body Mass (g)": "body_mass_g"}
    return raw.rename(columns=names)[list(names.values())]


if __name__ == "__main__":
    main()
