"""A scoring request checked against the model's signature before the model sees it.

MLflow's own parser accepts too much for a served model (an unknown column is dropped
silently, a number passes as a string, an empty frame ends in a stack trace), so a
request is parsed here and every row is validated with pydantic, with a row model
built from the MLflow signature: strict types, no extra column, every column present
(a value may be null: the model's pipeline imputes). A request that fails says what
was expected, what was found and where (row, column), as a 4xx.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ConfigDict, TypeAdapter, ValidationError, create_model

# MLflow column types a tabular model can take, as the JSON values that may carry them.
PYTHON_TYPES = {"boolean": bool, "integer": int, "long": int, "float": float, "double": float, "string": str, "datetime": datetime}
FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
MAX_REPORTED_ERRORS = 10
ERROR_CODES = {408: "REQUEST_TIMEOUT", 413: "REQUEST_TOO_LARGE", 415: "UNSUPPORTED_MEDIA_TYPE", 422: "INVALID_PARAMETER_VALUE"}


@dataclass
class BadScoringRequest(Exception):
    """A request the server refuses: HTTP status, what was expected and what was found."""

    status: int
    message: str
    expected: str
    found: str
    errors: list[dict] = field(default_factory=list)

    def to_json(self) -> dict:
        body = {"error_code": ERROR_CODES.get(self.status, "BAD_REQUEST"), "message": self.message, "expected": self.expected, "found": self.found}
        if self.errors:
            body["errors"] = self.errors
        return body


def _found(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return f"{text[:limit]}... ({type(value).__name__})" if len(text) > limit else f"{text} ({type(value).__name__})"


class SignatureRows:
    """Validates rows against one model's input schema (built once per served version)."""

    def __init__(self, input_schema, max_rows: int):
        self.columns = list(input_schema.input_names())
        self.types = {spec.name: spec.type.name for spec in input_schema.inputs}
        fields = {name: (PYTHON_TYPES[kind] | None, ...) for name, kind in self.types.items()}
        row_model = create_model("ScoringRow", __config__=ConfigDict(strict=True, extra="forbid"), **fields)
        self._rows = TypeAdapter(list[row_model])
        self.max_rows = max_rows

    @classmethod
    def supports(cls, input_schema) -> bool:
        """Only named columns of plain types; anything else goes to MLflow's own parser."""
        return (
            input_schema is not None
            and not input_schema.is_tensor_spec()
            and input_schema.has_input_names()
            and all(getattr(spec.type, "name", None) in PYTHON_TYPES for spec in input_schema.inputs)
        )

    def expected(self) -> str:
        return ", ".join(f"{name}: {kind}" for name, kind in self.types.items())

    def parse_json(self, body: bytes) -> list[dict]:
        """The request's rows, validated; raises BadScoringRequest."""
        try:
            document = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BadScoringRequest(400, f"the body is not valid JSON: {exc}", "a UTF-8 JSON object", f"{len(body)} bytes that do not parse") from None
        return self.validate(self._rows_of(document))

    def parse_csv(self, body: bytes) -> list[dict]:
        import io

        import pandas as pd

        try:
            frame = pd.read_csv(io.BytesIO(body))
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadScoringRequest(400, f"the body is not readable CSV: {exc}", "CSV with a header row of column names", f"{len(body)} bytes") from None
        frame = frame.astype(object).where(frame.notna(), None)
        return self.validate(frame.to_dict("records"))

    def _rows_of(self, document: Any) -> list[dict]:
        expected = f"a JSON object with exactly one of {list(FORMATS)}, e.g. {{\"dataframe_split\": {{\"columns\": {self.columns}, \"data\": [[...]]}}}}"
        if not isinstance(document, dict):
            raise BadScoringRequest(400, "the request must be a JSON object", expected, _found(document))
        keys = [k for k in document if k in FORMATS]
        unknown = [k for k in document if k not in FORMATS and k != "params"]
        if len(keys) != 1 or unknown:
            raise BadScoringRequest(400, "the request must name exactly one input format", expected, f"keys {sorted(document)}")
        payload = document[keys[0]]
        if keys[0] == "dataframe_split":
            return self._split_rows(payload)
        if isinstance(payload, dict) and all(isinstance(v, list) for v in payload.values()):  # columnar "inputs"
            lengths = {len(v) for v in payload.values()}
            if len(lengths) > 1:
                raise BadScoringRequest(400, f"{keys[0]}: every column must hold the same number of values", "columns of equal length", f"lengths {sorted(lengths)}")
            return [dict(zip(payload, values)) for values in zip(*payload.values())]
        if not isinstance(payload, list) or not all(isinstance(row, dict) for row in payload):
            raise BadScoringRequest(400, f"{keys[0]} must be a list of rows, each an object of column: value", "[{\"column\": value, ...}, ...]", _found(payload))
        return payload

    def _split_rows(self, payload: Any) -> list[dict]:
        shape = "{\"columns\": [names], \"data\": [[values], ...]} (\"index\" optional)"
        if not isinstance(payload, dict) or not isinstance(payload.get("columns"), list) or not isinstance(payload.get("data"), list) or set(payload) - {"columns", "data", "index"}:
            raise BadScoringRequest(400, "dataframe_split has the wrong shape", shape, _found(payload))
        columns, data = payload["columns"], payload["data"]
        self._check_columns(set(map(str, columns)), set(map(str, columns)))
        for number, row in enumerate(data):
            if not isinstance(row, list) or len(row) != len(columns):
                raise BadScoringRequest(400, f"dataframe_split row {number} does not match the columns", f"a list of {len(columns)} values", _found(row))
        return [dict(zip(columns, row)) for row in data]

    def _check_columns(self, union: set, every_row: set) -> None:
        unknown = sorted(union - set(self.columns))
        missing = [c for c in self.columns if c not in every_row]
        if unknown or missing:
            problems = "; ".join(p for p in (f"unknown columns {unknown}" if unknown else "", f"missing columns {missing}" if missing else "") if p)
            raise BadScoringRequest(422, f"the columns do not match the model's signature: {problems}", f"exactly the columns {self.columns}", f"columns {sorted(union)}")

    def validate(self, rows: list[dict]) -> list[dict]:
        if not rows:
            raise BadScoringRequest(422, "the request holds no rows", f"1 to {self.max_rows} rows", "0 rows")
        if len(rows) > self.max_rows:
            raise BadScoringRequest(413, f"too many rows: at most {self.max_rows} per request (CT_SERVING_MAX_ROWS)", f"at most {self.max_rows} rows", f"{len(rows)} rows")
        self._check_columns(set().union(*rows), set.intersection(*(set(r) for r in rows)))
        try:
            return [row.model_dump() for row in self._rows.validate_python(rows)]
        except ValidationError as exc:
            errors = [
                {"row": e["loc"][0], "column": e["loc"][1] if len(e["loc"]) > 1 else None, "expected": self.types.get(e["loc"][1], "?") if len(e["loc"]) > 1 else "a row object", "found": _found(e["input"]), "problem": e["msg"]}
                for e in exc.errors(include_url=False)[:MAX_REPORTED_ERRORS]
            ]
            first = errors[0]
            raise BadScoringRequest(
                422, f"{exc.error_count()} value(s) do not match the model's signature; first: row {first['row']}, column {first['column']!r}: {first['problem']}",
                self.expected(), f"{first['found']} in row {first['row']}, column {first['column']!r}", errors,
            ) from None


def to_frame(rows: list[dict], columns: list[str]):
    """Validated rows as the DataFrame the model takes (MLflow casts each column to its schema type)."""
    import pandas as pd

    return pd.DataFrame.from_records(rows, columns=columns)
