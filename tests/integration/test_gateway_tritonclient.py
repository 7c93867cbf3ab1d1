"""A third-party OIP client, tritonclient's HTTP client with its defaults, against a live
`governance serve`: health, readiness, metadata, inference (binary tensors both ways), a
version the routing serves, and a version it does not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from gatewaykit import (
    ENDPOINT,
    FEATURES,
    change_routing,
    client_headers,
    gateway_process,
    logged,
    model_blobs,
    serve_churn,
)

httpclient = pytest.importorskip("tritonclient.http")
from tritonclient.utils import InferenceServerException  # noqa: E402

AGES = np.array([30.0, 62.0, 45.5])
INCOMES = np.array([4, 7, 1], dtype=np.int64)
TENURES = np.array([1.0, 0.0, 2.0], dtype=np.float32)


def inputs() -> list:
    """One tensor per feature, each with tritonclient's default binary data."""
    made = []
    for name, values in zip(FEATURES, (AGES, INCOMES, TENURES), strict=True):
        tensor = httpclient.InferInput(name, list(values.shape), _datatype(values))
        tensor.set_data_from_numpy(values)  # binary_data=True by default
        made.append(tensor)
    return made


def _datatype(values: np.ndarray) -> str:
    return {"float64": "FP64", "float32": "FP32", "int64": "INT64"}[values.dtype.name]


def offline(version: str) -> np.ndarray:
    """What the registered version predicts for the same rows, without the gateway."""
    blob = model_blobs()[version]
    model = sio.loads(blob, trusted=sio.get_untrusted_types(data=blob))
    columns = (AGES, INCOMES, TENURES)
    frame = pd.DataFrame({n: v.astype(np.float64) for n, v in zip(FEATURES, columns, strict=True)})
    return model.predict(frame)


def test_tritonclient_with_its_defaults_is_served(gov, register_churn, now):
    # 1.0.0 stable, 1.1.0 a 20% canary, 1.2.0 in staging and routed nowhere.
    serve_churn(gov, register_churn, now)
    change_routing(gov, now, canary="1.1.0", canary_weight=20)
    with gateway_process(gov.settings) as (url, _):
        client = httpclient.InferenceServerClient(url.removeprefix("http://"))
        try:
            answered = _calls(client, client_headers(gov))
        finally:
            client.close()
    # Stopped with SIGINT: the gateway flushed its prediction log before exiting.
    records = sorted((r["version"], r["variant"], r["features"]["income"]) for r in logged(gov))
    assert records == sorted(
        [(answered["version"], answered["variant"], income) for income in INCOMES.tolist()]
        + [("1.1.0", "pinned:1.1.0", income) for income in INCOMES.tolist()]
        + [("1.0.0", "pinned:1.0.0", income) for income in INCOMES.tolist()]
    )


def _calls(client, headers: dict[str, str]) -> dict:
    """Every call the test makes; the routed answer's version and variant.

    Health and metadata are open; every inference sends the client key in `headers`, as
    tritonclient's `headers=` does, and one without it is refused 401 naming the headers.
    Each call gets its own copy: tritonclient writes Inference-Header-Content-Length into
    the dict it is given, so a shared dict would carry one call's length into the next.
    """
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready(ENDPOINT)
    assert client.get_server_metadata()["extensions"] == ["binary_tensor_data"]
    meta = client.get_model_metadata(ENDPOINT)
    assert (meta["name"], meta["versions"], meta["platform"]) == (
        ENDPOINT,
        ["1.0.0", "1.1.0"],
        "sklearn",
    )
    assert [i["name"] for i in meta["inputs"]] == list(FEATURES)
    assert meta["outputs"] == [{"name": "predict", "datatype": "INT64", "shape": [-1]}]

    # No outputs named: tritonclient asks for every output in binary (binary_data_output).
    with pytest.raises(InferenceServerException) as unkeyed:
        client.infer(ENDPOINT, inputs())
    assert unkeyed.value.status() == "401"
    assert unkeyed.value.message().startswith(
        "no client key: send it as `Authorization: Bearer KEY` or `X-API-Key: KEY`"
    )
    routed = client.infer(
        ENDPOINT, inputs(), parameters={"targeting_key": "user-7"}, headers=dict(headers)
    )
    answer = routed.get_response()
    version = answer["model_version"]
    assert version in ("1.0.0", "1.1.0")
    assert answer["parameters"]["variant"] == {"1.0.0": "stable", "1.1.0": "canary"}[version]
    [output] = answer["outputs"]
    assert output["parameters"] == {"binary_data_size": 3 * 8} and "data" not in output
    np.testing.assert_array_equal(routed.as_numpy("predict"), offline(version))

    # A requested output with tritonclient's default binary_data=True, by version.
    pinned = client.infer(
        ENDPOINT,
        inputs(),
        model_version="1.1.0",
        outputs=[httpclient.InferRequestedOutput("predict")],
        headers=dict(headers),
    )
    assert pinned.get_response()["model_version"] == "1.1.0"
    assert pinned.get_response()["parameters"]["variant"] == "pinned:1.1.0"
    np.testing.assert_array_equal(pinned.as_numpy("predict"), offline("1.1.0"))
    assert client.is_model_ready(ENDPOINT, "1.1.0")
    assert client.get_model_metadata(ENDPOINT, "1.1.0")["parameters"] == {
        "model": "churn",
        "version": "1.1.0",
        "variants": ["canary"],
    }

    # The same inputs as JSON, answered as JSON: the same predictions.
    as_json = [
        httpclient.InferInput(t.name(), t.shape(), t.datatype()).set_data_from_numpy(
            values, binary_data=False
        )
        for t, values in zip(inputs(), (AGES, INCOMES, TENURES), strict=True)
    ]
    plain = client.infer(
        ENDPOINT,
        as_json,
        model_version="1.0.0",
        outputs=[httpclient.InferRequestedOutput("predict", binary_data=False)],
        headers=dict(headers),
    )
    assert plain.get_response()["outputs"][0]["data"] == offline("1.0.0").tolist()

    refused = (
        "version 1.2.0 is not served by endpoint 'churn-api': "
        "it serves 1.0.0 (stable), 1.1.0 (canary)"
    )
    with pytest.raises(InferenceServerException) as infer_error:
        client.infer(ENDPOINT, inputs(), model_version="1.2.0", headers=dict(headers))
    assert (infer_error.value.status(), infer_error.value.message()) == ("404", refused)
    with pytest.raises(InferenceServerException) as meta_error:
        client.get_model_metadata(ENDPOINT, "1.2.0")
    assert meta_error.value.message() == refused
    assert not client.is_model_ready(ENDPOINT, "1.2.0")
    return {"version": version, "variant": answer["parameters"]["variant"]}
