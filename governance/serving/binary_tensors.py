"""The Open Inference Protocol's binary tensor data extension, both ways.

A request may carry an input's data as raw bytes after its JSON: the input's
`parameters.binary_data_size` says how many, in input order (little-endian, row-major; a
BOOL is one byte, 0 or 1). The answer is binary when the request asks for it
(`parameters.binary_data_output`, or the output's own `parameters.binary_data`): the
output then carries `parameters.binary_data_size` instead of `data`, its bytes follow the
JSON, and the `Inference-Header-Content-Length` header gives the JSON's length.
This is what Triton's clients send and expect with their defaults.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from governance.serving.errors import BadTensor
from governance.serving.oip import RequestInput, RequestOutput

EXTENSION = "binary_tensor_data"
OUTPUT = "predict"
SIZE = "binary_data_size"
# OIP datatype -> numpy dtype of its binary form (BYTES is length-prefixed, handled apart).
NUMPY = {
    "BOOL": "?",
    "INT8": "i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "UINT8": "u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
    "FP16": "<f2",
    "FP32": "<f4",
    "FP64": "<f8",
}


def with_binary_data(inputs: list[RequestInput], tail: bytes) -> list[RequestInput]:
    """The inputs with every binary input's `data` decoded from `tail`; BadTensor if it can't."""
    sizes = [_size(tensor) for tensor in inputs]
    wanted = sum(size for size in sizes if size is not None)
    if wanted != len(tail):
        raise BadTensor(
            f"binary tensor data extension: the inputs' {SIZE} add up to {wanted} bytes, "
            f"but {len(tail)} bytes follow the JSON"
        )
    decoded, offset = [], 0
    for tensor, size in zip(inputs, sizes, strict=True):
        if size is None:
            decoded.append(tensor)
            continue
        data = _values(tensor, tail[offset : offset + size])
        offset += size
        decoded.append(tensor.model_copy(update={"data": data}))
    return decoded


def _size(tensor: RequestInput) -> int | None:
    """The input's binary byte count, or None when its data is in the JSON."""
    size = (tensor.parameters or {}).get(SIZE)
    if size is None:
        return None
    where = f"input {tensor.name!r}"
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise BadTensor(f"{where}: {SIZE} must be a byte count, got {size!r}")
    if tensor.data is not None:
        raise BadTensor(f"{where}: give its values either in `data` or as binary data, not both")
    return size


def _values(tensor: RequestInput, chunk: bytes) -> list[Any]:
    """The input's values, decoded from its bytes by datatype (the shape is checked later)."""
    where = f"input {tensor.name!r}"
    if tensor.datatype == "BYTES":
        raise BadTensor(f"{where}: datatype BYTES is not numeric; this model takes numbers")
    dtype = NUMPY.get(tensor.datatype)
    if dtype is None:
        raise BadTensor(f"{where}: unknown datatype {tensor.datatype!r}")
    width = np.dtype(dtype).itemsize
    if len(chunk) % width:
        raise BadTensor(
            f"{where}: {len(chunk)} bytes of binary data are not a whole number of "
            f"{tensor.datatype} values ({width} bytes each)"
        )
    if tensor.datatype == "BOOL" and chunk.translate(None, b"\x00\x01"):
        raise BadTensor(f"{where}: a binary BOOL is one byte, 0 or 1")
    return np.frombuffer(chunk, dtype=dtype).tolist()


def binary_answer(parameters: dict[str, Any], outputs: list[RequestOutput] | None) -> bool:
    """Whether to answer in binary; BadTensor for an output other than `predict`."""
    chosen = _flag(parameters.get("binary_data_output"), "parameters.binary_data_output")
    for output in outputs or []:
        if output.name != OUTPUT:
            raise BadTensor(f"unknown output {output.name!r}: the model has one output, {OUTPUT!r}")
        own = (output.parameters or {}).get("binary_data")
        if own is not None:  # an output's own choice overrides the request's
            chosen = _flag(own, f"output {OUTPUT!r}: parameters.binary_data")
    return chosen


def _flag(value: Any, where: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise BadTensor(f"{where} must be true or false, got {value!r}")
    return value


def encode(values: np.ndarray, datatype: str) -> bytes:
    """An output's binary form: fixed-width little-endian, or length-prefixed UTF-8 BYTES."""
    if datatype == "BYTES":
        items = [str(v).encode() for v in values.tolist()]
        return b"".join(struct.pack("<I", len(item)) + item for item in items)
    return np.ascontiguousarray(values, dtype=NUMPY[datatype]).tobytes()
