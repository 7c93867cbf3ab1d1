"""Wire formats: Open Inference Protocol v2 tensors, the plain JSON rows, and their checks.

Both formats decode to one `Batch`: a float matrix in the model's feature order plus the
rows as {feature: value} for the prediction log. Every refusal is a BadTensor naming the
input, feature or row at fault, raised before anything is predicted or logged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from governance.serving.errors import BadTensor

_INTS = {"INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"}
_FLOATS = {"FP16", "FP32", "FP64"}
NUMERIC = _INTS | _FLOATS | {"BOOL"}
DATATYPES = NUMERIC | {"BYTES"}


# --- OIP v2 bodies (KServe / MLServer REST) ------------------------------------------------


class RequestInput(BaseModel):
    """One named input tensor: row-major data (flat or nested) with its shape and datatype."""

    name: str
    shape: list[int]
    datatype: str
    # None when the values come as binary data after the JSON (binary_tensors.py).
    data: list[Any] | None = None
    parameters: dict[str, Any] | None = None


class RequestOutput(BaseModel):
    """An output the client asks for (only `predict` exists)."""

    name: str
    parameters: dict[str, Any] | None = None


class InferenceRequest(BaseModel):
    """An OIP v2 inference request; `parameters.targeting_key` and attributes steer routing."""

    id: str | None = None
    parameters: dict[str, Any] | None = None
    inputs: list[RequestInput] = Field(min_length=1)
    outputs: list[RequestOutput] | None = None


# --- the plain JSON route -------------------------------------------------------------------


class PredictRequest(BaseModel):
    """Rows of {feature: value}, the targeting key and attributes that choose the variant."""

    rows: list[dict[str, Any]] = Field(min_length=1)
    targeting_key: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    # A blue/green smoke test asks for one slot's version, bypassing the routing rules.
    slot: str | None = None


class OutcomeRequest(BaseModel):
    """The observed label and numeric business metrics of one earlier prediction."""

    prediction_id: str = Field(min_length=1, max_length=64)
    label: Any = None
    metrics: dict[str, float] = Field(default_factory=dict)


# --- decoding -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Batch:
    """Decoded input: the matrix in feature order and the rows as the log stores them."""

    matrix: np.ndarray
    rows: list[dict[str, Any]]


def _number(value: Any, datatype: str, where: str) -> float | int | bool:
    """`value` if it fits `datatype`, else BadTensor naming `where`."""
    if datatype == "BOOL":
        ok = isinstance(value, bool)
    elif datatype in _INTS:
        ok = isinstance(value, int) and not isinstance(value, bool)
        ok = ok and not (datatype.startswith("U") and value < 0)
    else:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok:
        raise BadTensor(f"{where}: datatype {datatype} cannot hold {_shown(value)}")
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an int too large for a float
        finite = False
    if not finite:
        raise BadTensor(f"{where}: {_shown(value)} is not a finite number")
    return value


def _shown(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:40]}"


def _flat(data: list[Any], where: str) -> list[Any]:
    """Row-major flattening of nested lists (OIP allows flat or nested `data`)."""
    out: list[Any] = []
    stack = [iter(data)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                if len(stack) > 8:
                    raise BadTensor(f"{where}: data is nested deeper than any tensor here")
                stack.append(iter(item))
                break
            out.append(item)
        else:
            stack.pop()
    return out


def _elements(tensor: RequestInput, expected: int, where: str) -> list[Any]:
    if tensor.datatype not in DATATYPES:
        raise BadTensor(f"{where}: unknown datatype {tensor.datatype!r}")
    if tensor.datatype == "BYTES":
        raise BadTensor(f"{where}: datatype BYTES is not numeric; this model takes numbers")
    if tensor.data is None:
        raise BadTensor(
            f"{where}: no data: give `data`, or binary data with parameters.binary_data_size"
        )
    values = _flat(tensor.data, where)
    if len(values) != expected:
        raise BadTensor(
            f"{where}: shape {tensor.shape} needs {expected} values, data holds {len(values)}"
        )
    return [_number(v, tensor.datatype, where) for v in values]


def decode_tensors(inputs: list[RequestInput], features: tuple[str, ...]) -> Batch:
    """One tensor per feature (shape [n] or [n, 1]) or one [n, k] tensor in feature order."""
    k = len(features)
    if len(inputs) == 1 and inputs[0].name not in features:
        tensor = inputs[0]
        where = f"input {tensor.name!r}"
        shape = tensor.shape
        if len(shape) != 2 or shape[0] < 1 or shape[1] != k:
            raise BadTensor(
                f"{where}: wrong shape {shape}: a single tensor must be [n, {k}] holding the "
                f"features in order ({', '.join(features)}), or send one tensor per feature"
            )
        flat = _elements(tensor, shape[0] * k, where)
        rows = [dict(zip(features, flat[i * k : i * k + k], strict=True)) for i in range(shape[0])]
        return Batch(np.asarray(flat, dtype=np.float64).reshape(shape[0], k), rows)
    by_name: dict[str, RequestInput] = {}
    for tensor in inputs:
        if tensor.name in by_name:
            raise BadTensor(f"input {tensor.name!r} is given twice")
        by_name[tensor.name] = tensor
    unexpected = [name for name in by_name if name not in features]
    if unexpected:
        raise BadTensor(f"unexpected input(s) {unexpected}: the model's features are {features}")
    missing = [name for name in features if name not in by_name]
    if missing:
        raise BadTensor(f"missing feature(s) {missing}: send one input tensor per feature")
    columns = []
    n = None
    for name in features:
        tensor, where = by_name[name], f"input {name!r}"
        shape = tensor.shape
        if not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)) or shape[0] < 1:
            raise BadTensor(f"{where}: wrong shape {shape}: a feature tensor is [n] or [n, 1]")
        if n is not None and shape[0] != n:
            raise BadTensor(f"{where}: wrong shape {shape}: other inputs have {n} rows")
        n = shape[0]
        columns.append(_elements(tensor, n, where))
    rows = [dict(zip(features, values, strict=True)) for values in zip(*columns, strict=True)]
    return Batch(np.asarray(columns, dtype=np.float64).T.reshape(len(rows), k), rows)


def decode_rows(rows: list[dict[str, Any]], features: tuple[str, ...]) -> Batch:
    """Rows of {feature: number or null}; each must hold exactly the model's features."""
    wanted = set(features)
    for i, row in enumerate(rows):
        missing = [name for name in features if name not in row]
        if missing:
            raise BadTensor(f"row {i} is missing feature(s) {missing}")
        unexpected = [name for name in row if name not in wanted]
        if unexpected:
            raise BadTensor(f"row {i} has unexpected feature(s) {unexpected}")
        for name in features:
            # null is a missing value: the model sees NaN, as pandas would give it, and a
            # model without an imputer fails on it (logged as the model's error, status 500).
            if row[name] is not None:
                _number(row[name], "FP64", f"row {i}, feature {name!r}")
    matrix = np.asarray(
        [[np.nan if row[name] is None else row[name] for name in features] for row in rows],
        dtype=np.float64,
    )
    return Batch(matrix, rows)


def output_datatype(values: np.ndarray) -> str:
    """The OIP datatype of a prediction array."""
    kind = values.dtype.kind
    return {"b": "BOOL", "i": "INT64", "u": "UINT64", "f": "FP64"}.get(kind, "BYTES")


def plain(values: np.ndarray) -> list[Any]:
    """Predictions as JSON values (numpy scalars become Python ones; others become text)."""
    if values.dtype.kind in "biuf":
        return values.tolist()
    return [v if isinstance(v, str | int | float | bool) else str(v) for v in values.tolist()]
