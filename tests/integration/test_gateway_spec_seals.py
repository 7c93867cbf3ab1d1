"""A writer without the key edits routing_specs: the gateway refuses it, audit verify names it.

The attack: rewrite the JSON the gateway serves (and, to be thorough, its spec_hash column)
so that churn 1.2.0, never promoted, is the stable version of churn-api.
"""

from __future__ import annotations

import logging
import time

import httpx
import pytest
import sqlalchemy as sa
from gatewaykit import ENDPOINT, change_routing, client_headers, gateway_thread, serve_churn

from governance.domain.errors import StateMismatch
from governance.domain.rollout import RoutingSpec
from governance.services.trust import audit
from governance.store.tables_rollout import endpoints, routing_specs

ROW = {"age": 50, "income": 3, "tenure": 2}
URL = f"/v1/endpoints/{ENDPOINT}/predict"
FORGED = RoutingSpec(stable="1.2.0")
REFUSED = "refused_total"


def _endpoint_id(conn) -> int:
    return conn.execute(sa.select(endpoints.c.id).where(endpoints.c.name == ENDPOINT)).scalar_one()


def edit_spec(gov, number: int, spec: RoutingSpec = FORGED, **columns) -> None:
    """UPDATE one spec row's JSON (and its spec_hash column) as a database writer could."""
    with gov.engine.begin() as conn:
        conn.execute(
            routing_specs.update()
            .where(routing_specs.c.endpoint_id == _endpoint_id(conn))
            .where(routing_specs.c.number == number)
            .values(spec=spec.model_dump(mode="json"), spec_hash=spec.digest(), **columns)
        )


def append_forged_spec(gov, number: int) -> None:
    """INSERT the next spec row: spec 1's row with its JSON rewritten to make 1.2.0 stable."""
    with gov.engine.begin() as conn:
        first = (
            conn.execute(sa.select(routing_specs).where(routing_specs.c.number == 1))
            .one()
            ._asdict()
        )
        del first["id"]
        conn.execute(
            routing_specs.insert().values(
                {
                    **first,
                    "number": number,
                    "spec": FORGED.model_dump(mode="json"),
                    "spec_hash": FORGED.digest(),
                }
            )
        )


def served_version(client) -> str:
    answer = client.post(URL, json={"rows": [ROW], "targeting_key": "k"})
    assert answer.status_code == 200, answer.text
    return answer.json()["version"]


def refused_count(client) -> float:
    """The gateway's refused-spec counter for churn-api, read from /metrics."""
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("gateway_routing_specs_refused_total{") and ENDPOINT in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def until(check, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def churn_api(gov, register_churn, now):
    """churn-api serving churn 1.0.0 (1.1.0 and 1.2.0 in staging)."""
    serve_churn(gov, register_churn, now)
    return gov


def test_a_forged_spec_is_refused_the_last_good_one_stays_live_logged_and_counted(
    churn_api, now, caplog
):
    gov = churn_api
    caplog.set_level(logging.WARNING, logger="governance.serving.routing_cache")
    with (
        gateway_thread(gov.settings) as (url, _),
        httpx.Client(base_url=url, headers=client_headers(gov)) as client,
    ):
        assert served_version(client) == "1.0.0"
        assert refused_count(client) == 0
        append_forged_spec(gov, number=2)
        assert until(lambda: refused_count(client) == 1), "the forged spec was not refused"
        # The forged spec never went live: spec 1 and 1.0.0 still serve everyone.
        for _ in range(20):
            assert served_version(client) == "1.0.0"
        assert client.get(f"/v1/endpoints/{ENDPOINT}").json()["spec"] == 1
        refusals = [r for r in caplog.records if "refused" in r.getMessage()]
        assert len(refusals) == 1
        assert refusals[0].levelno == logging.WARNING
        assert refusals[0].getMessage() == (
            f"endpoint {ENDPOINT}: routing spec 2 refused, still serving spec 1: its content"
            f" (hash {FORGED.digest()}) is not what its spec_mac covers: the routing_specs"
            " row was changed outside governance"
        )
        # A governed change after it goes live as usual (and the forged one stays refused).
        change_routing(gov, now, stable="1.1.0")
        assert until(lambda: served_version(client) == "1.1.0")
        assert client.get(f"/v1/endpoints/{ENDPOINT}").json()["spec"] == 3
        assert refused_count(client) == 1
    with pytest.raises(StateMismatch) as found:
        audit.verify(gov)
    assert f"routing_specs {ENDPOINT} spec 2: the table has a row that no event accounts for" in (
        str(found.value)
    )


def test_an_edited_live_spec_is_not_served_by_a_gateway_that_starts_after_it(churn_api, caplog):
    gov = churn_api
    caplog.set_level(logging.WARNING, logger="governance.serving.routing_cache")
    edit_spec(gov, number=1)
    with (
        gateway_thread(gov.settings) as (url, _),
        httpx.Client(base_url=url, headers=client_headers(gov)) as client,
    ):
        answer = client.post(URL, json={"rows": [ROW]})
        assert answer.status_code == 503
        assert answer.json() == {
            "error": f"endpoint {ENDPOINT!r} is not served: its routing spec 1 was refused"
            f" (its content (hash {FORGED.digest()}) is not what its spec_mac covers: the"
            " routing_specs row was changed outside governance) and this gateway has no"
            " earlier good spec of it"
        }
        assert client.get(f"/v1/endpoints/{ENDPOINT}").status_code == 503
        assert refused_count(client) == 1
    assert [r.getMessage().split(":")[0:2] for r in caplog.records] == [
        [f"endpoint {ENDPOINT}", " routing spec 1 refused, not serving it"]
    ]


def test_audit_verify_recomputes_each_spec_hash_from_its_content(churn_api):
    gov = churn_api
    with gov.store.read() as tx:
        recorded = tx.routing.latest_spec(ENDPOINT).spec.digest()
    audit.verify(gov)
    edit_spec(gov, number=1)
    with pytest.raises(StateMismatch) as found:
        audit.verify(gov)
    assert str(found.value) == (
        f"routing_specs {ENDPOINT} spec 1: its content hashes to {FORGED.digest()}"
        f" but the events imply {recorded}"
    )


def test_audit_verify_names_a_spec_whose_seal_was_replaced(churn_api, now):
    gov = churn_api
    change_routing(gov, now, stable="1.1.0")
    with gov.engine.begin() as conn:
        first_mac = conn.execute(
            sa.select(routing_specs.c.spec_mac).where(routing_specs.c.number == 1)
        ).scalar_one()
    edit_spec(gov, number=2, spec=RoutingSpec(stable="1.1.0"), spec_mac=first_mac)
    with pytest.raises(StateMismatch) as found:
        audit.verify(gov)
    digest = RoutingSpec(stable="1.1.0").digest()
    assert str(found.value) == (
        f"routing_specs {ENDPOINT} spec 2: its spec_mac does not cover its content (hash {digest})"
    )


def test_a_spec_older_than_seals_is_served_while_its_event_vouches_for_it(churn_api):
    gov = churn_api
    # As migration 0007 leaves a spec written before it: no spec_mac.
    with gov.engine.begin() as conn:
        conn.execute(routing_specs.update().values(spec_mac=None))
    audit.verify(gov)
    with (
        gateway_thread(gov.settings) as (url, _),
        httpx.Client(base_url=url, headers=client_headers(gov)) as client,
    ):
        assert served_version(client) == "1.0.0"
    with gov.store.read() as tx:
        recorded = tx.routing.latest_spec(ENDPOINT).spec.digest()
    edit_spec(gov, number=1, spec_mac=None)
    with (
        gateway_thread(gov.settings) as (url, _),
        httpx.Client(base_url=url, headers=client_headers(gov)) as client,
    ):
        answer = client.post(URL, json={"rows": [ROW]})
        assert answer.status_code == 503
        assert (
            f"its routing spec 1 was refused (it has no spec_mac and its content hashes to"
            f" {FORGED.digest()}, but its routing.changed event records {recorded})"
        ) in answer.json()["error"]


def delete_spec(gov, number: int) -> None:
    with gov.engine.begin() as conn:
        conn.execute(routing_specs.delete().where(routing_specs.c.number == number))


def test_a_deleted_forgery_does_not_block_the_governed_spec_that_reuses_its_number(churn_api, now):
    gov = churn_api
    with (
        gateway_thread(gov.settings) as (url, _),
        httpx.Client(base_url=url, headers=client_headers(gov)) as client,
    ):
        append_forged_spec(gov, number=2)
        assert until(lambda: refused_count(client) == 1)
        delete_spec(gov, number=2)
        change_routing(gov, now, stable="1.1.0")  # the governed spec 2
        assert until(lambda: served_version(client) == "1.1.0")
        assert refused_count(client) == 1
    audit.verify(gov)


def test_deleting_the_newest_specs_does_not_bring_an_older_one_back(churn_api, now, caplog):
    gov = churn_api
    caplog.set_level(logging.WARNING, logger="governance.serving.routing_cache")
    with (
        gateway_thread(gov.settings) as (url, _),
        httpx.Client(base_url=url, headers=client_headers(gov)) as client,
    ):
        change_routing(gov, now, stable="1.1.0")
        assert until(lambda: served_version(client) == "1.1.0")
        delete_spec(gov, number=2)
        assert until(lambda: refused_count(client) == 1)
        assert served_version(client) == "1.1.0"
    assert caplog.records[-1].getMessage() == (
        f"endpoint {ENDPOINT}: routing spec 1 refused, still serving spec 2: its number is"
        " below spec 2, which this gateway serves: specs are only appended, so newer ones"
        " were deleted"
    )
