"""The binary tensor data extension over real HTTP, with bodies built byte by byte."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest
from gatewaykit import ENDPOINT, client_headers, gateway_thread, logged, serve_churn, tensors

HEADER = "Inference-Header-Content-Length"
URL = f"/v2/models/{ENDPOINT}/infer"
ROWS = [{"age": 30, "income": 4, "tenure": 1}, {"age": 62, "income": 7, "tenure": 0}]


@pytest.fixture
def gateway(gov, register_churn, now):
    """A live gateway over churn 1.0.0 behind endpoint churn-api: (client, app)."""
    serve_churn(gov, register_churn, now)
    with (
        gateway_thread(gov.settings) as (url, app),
        httpx.Client(base_url=url, headers=client_headers(gov)) as client,
    ):
        yield client, app


def binary_body(request: dict, chunks: list[bytes]) -> tuple[bytes, dict[str, str]]:
    """The JSON request followed by the raw chunks, and the extension's header."""
    head = json.dumps(request).encode()
    return head + b"".join(chunks), {HEADER: str(len(head))}


def binary_input(name: str, values: np.ndarray, datatype: str) -> tuple[dict, bytes]:
    """An input whose values travel as little-endian bytes after the JSON."""
    raw = values.astype(values.dtype.newbyteorder("<")).tobytes()
    meta = {"name": name, "shape": list(values.shape), "datatype": datatype}
    return {**meta, "parameters": {"binary_data_size": len(raw)}}, raw


def test_binary_inputs_of_each_width_predict_as_json_ones_do(gov, gateway):
    client, app = gateway
    expected = client.post(URL, json={"inputs": tensors(ROWS)}).json()["outputs"][0]["data"]
    age, age_raw = binary_input("age", np.array([30, 62], dtype=np.int16), "INT16")
    income, income_raw = binary_input("income", np.array([4, 7], dtype=np.float32), "FP32")
    tenure = {"name": "tenure", "shape": [2], "datatype": "BOOL", "data": [True, False]}
    body, headers = binary_body({"inputs": [age, tenure, income]}, [age_raw, income_raw])
    answer = client.post(URL, content=body, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["outputs"][0]["data"] == expected
    assert app.state.gateway.log.wait_flushed()
    ids = answer.json()["parameters"]["prediction_ids"]
    assert [next(r["features"] for r in logged(gov) if r["id"] == i) for i in ids] == [
        {"age": 30, "income": 4.0, "tenure": True},
        {"age": 62, "income": 7.0, "tenure": False},
    ]


def test_a_binary_answer_when_asked_for_and_json_when_the_output_says_so(gateway):
    client, _ = gateway
    expected = client.post(URL, json={"inputs": tensors(ROWS)}).json()["outputs"][0]["data"]
    request = {"inputs": tensors(ROWS), "parameters": {"binary_data_output": True}}
    answer = client.post(URL, json=request)
    assert answer.status_code == 200, answer.text
    length = int(answer.headers[HEADER])
    head = json.loads(answer.content[:length])
    [output] = head["outputs"]
    assert output == {
        "name": "predict",
        "shape": [2],
        "datatype": "INT64",
        "parameters": {"binary_data_size": 16},
    }
    assert np.frombuffer(answer.content[length:], dtype="<i8").tolist() == expected
    assert head["parameters"]["version"] == "1.0.0"
    # An output's own binary_data overrides the request's binary_data_output.
    own = {**request, "outputs": [{"name": "predict", "parameters": {"binary_data": False}}]}
    as_json = client.post(URL, json=own)
    assert HEADER.lower() not in as_json.headers
    assert as_json.json()["outputs"][0]["data"] == expected


def _binary_case(values: np.ndarray, datatype: str, size_delta: int = 0, **extra) -> tuple:
    """A body whose `age` travels in binary (size changed by `size_delta`, fields by `extra`)."""
    age, raw = binary_input("age", values, datatype)
    age["parameters"]["binary_data_size"] += size_delta
    age.update(extra)
    others = [t for t in tensors([{"age": 0, "income": 1, "tenure": 1}]) if t["name"] != "age"]
    return binary_body({"inputs": [age, *others]}, [raw])


BAD = [
    (
        "sizes that do not add up",
        _binary_case(np.array([30.0]), "FP64", size_delta=-1),
        "binary tensor data extension: the inputs' binary_data_size add up to 7 bytes, "
        "but 8 bytes follow the JSON",
    ),
    (
        "bytes that are not whole values",
        _binary_case(np.zeros(5, dtype=np.uint8), "FP64", shape=[1]),
        "input 'age': 5 bytes of binary data are not a whole number of FP64 values (8 bytes each)",
    ),
    (
        "data given twice",
        _binary_case(np.array([30.0]), "FP64", data=[30.0]),
        "input 'age': give its values either in `data` or as binary data, not both",
    ),
    (
        "a BOOL byte other than 0 or 1",
        _binary_case(np.array([2], dtype=np.uint8), "BOOL"),
        "input 'age': a binary BOOL is one byte, 0 or 1",
    ),
    (
        "binary BYTES",
        _binary_case(np.array([3], dtype="<u4"), "BYTES"),
        "input 'age': datatype BYTES is not numeric; this model takes numbers",
    ),
    (
        "a shape the bytes do not fill",
        _binary_case(np.array([30.0]), "FP64", shape=[2]),
        "input 'age': shape [2] needs 2 values, data holds 1",
    ),
]


def test_each_bad_binary_body_is_a_400_naming_it_and_nothing_is_logged(gov, gateway):
    client, app = gateway
    for case, (body, headers), words in BAD:
        answer = client.post(URL, content=body, headers=headers)
        assert (answer.status_code, answer.json()) == (400, {"error": words}), case
    inputs = tensors(ROWS)
    head = json.dumps({"inputs": inputs}).encode()
    for value, words in (
        ("x1", f"binary tensor data extension: {HEADER} 'x1' is not a byte count"),
        (str(len(head) + 1), f"binary tensor data extension: {HEADER} '{len(head) + 1}' is "
         f"longer than the {len(head)}-byte body"),
    ):  # fmt: skip
        answer = client.post(URL, content=head, headers={HEADER: value})
        assert (answer.status_code, answer.json()) == (400, {"error": words})
    for outputs, parameters, words in (
        ([{"name": "proba"}], {}, "unknown output 'proba': the model has one output, 'predict'"),
        (None, {"binary_data_output": "yes"}, "parameters.binary_data_output must be true or "
         "false, got 'yes'"),
    ):  # fmt: skip
        request = {"inputs": inputs, "outputs": outputs, "parameters": parameters}
        answer = client.post(URL, json=request)
        assert (answer.status_code, answer.json()) == (400, {"error": words})
    missing = {"inputs": [{k: v for k, v in t.items() if k != "data"} for t in inputs]}
    answer = client.post(URL, json=missing)
    assert answer.json() == {
        "error": "input 'age': no data: give `data`, or binary data with "
        "parameters.binary_data_size"
    }
    assert app.state.gateway.log.wait_flushed()
    assert logged(gov) == []
