"""Predict with the scikit-learn model under the pyfunc wrapper, once our own validation has run.

``PyFuncModel.predict`` enforces the signature again on every call (casting each column,
through narwhals and pandas), although ``scoring_request.SignatureRows`` has already
checked every value. For a scikit-learn model logged with the plain ``predict`` function
that enforcement is the only thing pyfunc adds, so the raw model is called directly.

The answers stay the same because the frame stays the same: the first time a frame with a
given set of column dtypes arrives, MLflow's own enforcement is run on it once, and only if
it leaves every dtype as it was does that dtype set go to the raw model from then on. A
frame that enforcement would change (an all-null column, an int column of a float
signature) keeps going through pyfunc, as does any model that is not a plain sklearn one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


def raw_predict_of(model: Any) -> Callable | None:
    """The raw model's ``predict`` when pyfunc would call exactly it, else None."""
    try:
        meta = model.metadata
        impl = model._model_impl
        pyfunc_conf = meta.flavors.get("python_function", {})
        if pyfunc_conf.get("loader_module") != "mlflow.sklearn" or pyfunc_conf.get("predict_fn", "predict") != "predict":
            return None
        if meta._is_signature_from_type_hint() or (meta._is_type_hint_from_example() and model.input_example is not None):
            return None  # pyfunc reshapes the input then: let it
        if type(impl).__name__ != "_SklearnModelWrapper" or not hasattr(impl, "get_raw_model"):
            return None
        return impl.get_raw_model().predict
    except Exception:  # an unfamiliar pyfunc model: the safe path is pyfunc itself
        log.info("model %r: predicting through pyfunc", type(model).__name__, exc_info=True)
        return None


class Scorer:
    """One served version's predict: the raw sklearn model where that is provably the same, else pyfunc."""

    def __init__(self, model: Any):
        self.model = model
        self.raw_predict = raw_predict_of(model)
        self._schema = model.metadata.get_input_schema()
        self._raw_for_dtypes: dict[tuple, bool] = {}
        self._lock = threading.Lock()

    @property
    def path(self) -> str:
        return "raw" if self.raw_predict is not None else "pyfunc"

    def predict(self, frame):
        if self.raw_predict is not None and self._schema is not None and self._unchanged_by_enforcement(frame):
            return self.raw_predict(frame)
        return self.model.predict(frame)

    def _unchanged_by_enforcement(self, frame) -> bool:
        key = (tuple(frame.columns), tuple(str(dtype) for dtype in frame.dtypes))
        known = self._raw_for_dtypes.get(key)
        if known is not None:
            return known
        from mlflow.models.utils import _enforce_schema

        try:
            enforced = _enforce_schema(frame, self._schema, "mlflow.sklearn")
            same = list(enforced.columns) == list(frame.columns) and [str(d) for d in enforced.dtypes] == list(key[1])
        except Exception:  # noqa: BLE001 - pyfunc will refuse it and say why
            same = False
        with self._lock:
            if len(self._raw_for_dtypes) < 256:  # dtype sets are few; a bound keeps odd clients from growing it
                self._raw_for_dtypes[key] = same
        return same
