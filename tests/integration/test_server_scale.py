"""Two governance server processes on one PostgreSQL: stateless, and the chain stays whole."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import httpx
import pytest
from seeding import make_settings
from serverkit import People, server_process

from governance.bootstrap import open_governance
from governance.domain.models import ModelKind, RegisteredModel, RiskLevel
from governance.keyring import create_secret_key
from governance.services.registry import versions
from governance.services.registry.versions import VersionSpec
from governance.services.trust import audit, identity
from governance.store.schema import upgrade

CLIENTS, CALLS = 16, 5


@pytest.fixture
def postgres_home(tmp_path, postgres_databases, example_card, model_bytes):
    """A PostgreSQL database with everyone enrolled and one registered version."""
    url = postgres_databases.create()
    settings = make_settings(tmp_path, url)
    settings.home.mkdir(parents=True)
    create_secret_key(settings.resolved_secret_key_file)
    bare = open_governance(settings, check_schema=False)
    upgrade(bare.engine)
    bare.close()
    gov = open_governance(settings)
    when = datetime.now(UTC)
    secrets = {
        name: identity.enroll(gov, name, actor="test-setup", now=when).secret
        for name in ("alice", "bob")
    }
    spec = VersionSpec(name="scale", version="1.0.0", created_by="alice")
    model = {"owner": "alice", "team": "t", "risk_level": RiskLevel.medium}
    card = example_card.model_copy(update={"name": "scale", "version": "1.0.0", **model})
    versions.register_version(
        gov, spec, card, artifact=model_bytes[0], now=when, new_model=_model(model)
    )
    yield settings, gov, secrets
    gov.close()
    postgres_databases.drop(url)


def _model(fields):
    return RegisteredModel(name="scale", kind=ModelKind.sklearn, **fields)


def test_two_server_processes_serve_parallel_clients_and_the_chain_stays_whole(postgres_home):
    settings, gov, secrets = postgres_home
    with server_process(settings) as (first, _), server_process(settings) as (second, _):
        # A session opened on one process is good on the other: sessions live in the database.
        code = People(first, secrets).code("alice")  # by the server's clock
        login = httpx.post(f"{first}/v1/sessions", json={"name": "alice", "code": code})
        assert login.status_code == 201, login.text
        headers = {"Authorization": f"Bearer {login.json()['token']}"}
        assert httpx.get(f"{second}/v1/whoami", headers=headers).json()["name"] == "alice"

        def client(n: int) -> list[int]:
            statuses = []
            with httpx.Client(headers=headers, timeout=60) as http:
                for i in range(CALLS):
                    base = (first, second)[(n + i) % 2]
                    body = {"name": "scale", "alias": f"c{n}x{i}", "version": "1.0.0"}
                    answer = http.post(f"{base}/v1/commands/models/alias", json=body)
                    statuses.append(answer.status_code)
            return statuses

        with ThreadPoolExecutor(CLIENTS) as pool:
            statuses = [s for batch in pool.map(client, range(CLIENTS)) for s in batch]
    assert statuses == [200] * (CLIENTS * CALLS)
    report = audit.verify(gov)
    assert report.chain.ok and report.chain.verified == report.chain.head_seq
    with gov.store.read() as tx:
        aliases = tx.audit.query(event_type="model.alias_set")
    assert sorted(e.details["alias"] for e in aliases) == sorted(
        f"c{n}x{i}" for n in range(CLIENTS) for i in range(CALLS)
    )
    assert {e.actor for e in aliases} == {"alice"}
