"""The store bench/compliance.py builds packs from: target versions with long histories.

Setup only, never timed. `bench/_audit_trail.py` writes the bulk of the trail (other
models' versions, ten events each, with their state rows); this module adds the target
versions: `churn-classifier-M` models (high risk), versions 2.J.0, each registered with the
example card bound to it, revised, evaluated, approved to staging and to production (the
first directly, then the model's endpoint; later ones through a canary on it, archiving
their predecessor), then monitored for weeks (a reference sample, ingested batches, a
nightly retirement audit). The plan is here; the steps are in `_compliance_life`,
`_compliance_steps` and `_compliance_serving`. Each target version has exactly
`per_version` events naming it, with the details the services write, and the rows those
events imply, written through the store's repositories and in-transaction service
functions where they exist. Target events are spread through the whole trail in time
order, as a live system interleaves them."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import chain, islice
from pathlib import Path
from typing import Any

import _audit_trail
from _compliance_life import DATASET, DATASET_ID, Life
from _compliance_steps import new_digest

DOCUMENT = (
    Path(__file__).resolve().parent.parent / "examples" / "compliance" / "churn-classifier.yaml"
)
START = _audit_trail.START
MODELS = 10  # target models; versions are spread over them
MODEL_ID_BASE, VERSION_ID_BASE = 1000, 1_000_000
# _audit_trail enrols alice, bob and carol; the example roster's other people come here.
MORE_PEOPLE = ("dave", "erin", "frank", "grace", "heidi")
# The trail spans ~200 days whatever its size: past the six months the retention check reads.
SPAN = timedelta(days=200)
LIFE_DAYS = 60  # each target version's monitored life, over which its filler events spread


@dataclass
class Target:
    """One target version and what setup recorded for it."""

    model: str
    version: str
    model_id: int
    version_id: int
    index: int  # J: the model's J-th version
    events: int = 0
    state: dict[str, Any] = field(default_factory=dict)


@dataclass
class Store:
    """What was written: the targets and the totals."""

    targets: list[Target]
    events: int
    target_events: int
    state_rows: int


def target_name(v: int) -> tuple[str, str]:
    """(model, version) of target v."""
    return f"churn-classifier-{v % MODELS}", f"2.{v // MODELS}.0"


# The start of every version's life, in order: (kind, days after the version's start).
_REGISTERED = (
    ("registered", 0.0),
    ("card_revised", 0.2),
    ("card_revised", 0.4),
    ("evaluated", 0.6),
    ("token_issued", 0.8),
    ("token_used", 0.81),
    ("requested", 0.82),
    ("refused", 0.9),
    ("decided", 1.0),
    ("approved", 1.001),
    ("stage", 1.01),
    ("promoted", 1.02),
    ("token_issued", 2.0),
    ("token_used", 2.01),
    ("requested", 2.02),
    ("decided", 2.3),
    ("decided", 2.6),
    ("decided", 2.9),
    ("approved", 2.901),
)
BAKE_DAYS = 30 / (24 * 60)  # the example policy's 30-minute canary bake


def _life(v: int, analysed: int) -> list[tuple[float, int, str, int, int]]:
    """Target v's own steps as (day, attributed target, kind, n, acting target).

    A step writes one event, attributed to the target it names (model and version): a canary
    step's routing change names the stable version, the predecessor, not v. A step whose
    service call writes two events is followed by a `flush` step that writes the second.
    """
    start = (v // MODELS) * 15.0 + (v % MODELS) * 0.05
    items = [(start + day, v, kind, n, v) for n, (kind, day) in enumerate(_REGISTERED)]
    p = v - MODELS  # the predecessor: the model's version in production, or < 0 if none
    day = start + 2.902
    if p < 0:  # the first version goes to production directly, then gets its endpoint
        items += [(day, v, "stage", 0, v), (day + 0.001, v, "promoted", 0, v)]
        items += [(day + 0.002, v, "alias", 0, v), (day + 0.01, v, "endpoint", 0, v)]
        items += [(day + 0.011, v, "flush", 0, v)]
    else:  # a canary on the endpoint: routing changes name the stable version, p
        items += [(day, p, "rollout_start", 0, v), (day + 0.0001, v, "flush", 0, v)]
        for k in range(analysed):
            day += BAKE_DAYS
            items.append((day, v, "verdict", k, v))
            if k < analysed - 1:  # the last analysed step is followed by the promotion
                items.append((day + 0.0001, p, "flush", k, v))
        day += 0.001
        items += [(day, p, "archived", 0, v), (day + 0.0001, v, "stage", 0, v)]
        items += [(day + 0.0002, v, "follow", 0, v), (day + 0.0003, v, "promoted", 0, v)]
        items += [(day + 0.0004, v, "alias", 0, v)]
    items.append((start + 3.0, v, "reference", 0, v))
    return items


def _skeleton(versions: int, per_version: int, analysed: int) -> list[tuple]:
    """Every target event as (day, attributed target, kind, n, acting target), in chain
    order; each target gets monitoring filler up to exactly `per_version` events."""
    items = [item for v in range(versions) for item in _life(v, analysed)]
    fixed = [0] * versions
    for _day, attributed, *_ in items:
        fixed[attributed] += 1
    for v in range(versions):
        filler = per_version - fixed[v]
        if filler < 2:
            raise SystemExit(f"--events-per-version must be at least {fixed[v] + 2}")
        start = (v // MODELS) * 15.0 + (v % MODELS) * 0.05 + 3.0
        audits = max(1, filler // 33)  # one retirement audit for 32 batches: ~a day
        ingests = filler - audits
        for n in range(ingests):
            items.append((start + LIFE_DAYS * (n + 1) / (ingests + 1), v, "ingested", n, v))
        for n in range(audits):
            items.append((start + LIFE_DAYS * (n + 0.5) / audits, v, "checked", n, v))
    items.sort()
    return items


def load_document():
    """The example compliance.yaml, parsed as `governance compliance document` parses it."""
    from governance.reports.compliance_yaml import load_compliance_yaml

    return load_compliance_yaml(DOCUMENT.read_text())


def document_digest(document) -> str:
    """The digest the trail and the pack cite for a compliance document."""
    from governance.domain.compliance_document import document_digest as digest

    return digest(document)


def write_documents(conn, targets: list[Target]) -> None:
    """Revision 1 of each target model's compliance document, through its repository."""
    from governance.store.compliance_documents import ComplianceDocumentRepository

    document, repository = load_document(), ComplianceDocumentRepository(conn)
    for t in targets:
        if t.index == 0:
            repository.add(t.model_id, document, document_digest(document), "carol", START)


def _prelude(targets: list[Target], dataset_digest: str) -> tuple[list[tuple], dict]:
    """Events and rows before any target version: its models, people and dataset."""
    events, models = [], []
    for t in targets:
        if t.index:
            continue
        details = {"owner": "maria.okafor", "team": "customer-analytics", "risk_level": "high"}
        details |= {"kind": "sklearn", "description": "Subscriber churn within 60 days"}
        events.append(("model.registered", t.model, None, "alice", details))
        # The provider's compliance.yaml, registered as the demo does (revision 1).
        digest = {"revision": 1, "digest": document_digest(load_document())}
        events.append(("compliance.document_registered", t.model, None, "carol", digest))
        models.append(
            {"id": t.model_id, "name": t.model, "created_at": _audit_trail.START} | details
        )
    for name in MORE_PEOPLE:
        events.append(("person.enrolled", None, None, "grace", {"name": name, "replaced": False}))
    dataset = {"name": DATASET, "digest": dataset_digest, "uri": f"sha256/{dataset_digest}"}
    dataset |= {"format": "parquet", "target": "churned_60d", "group_columns": ["region"]}
    dataset |= {"n_rows": 78412}
    events.append(("dataset.registered", None, None, "alice", dataset))
    people = [
        {"name": n, "totp_secret": "x", "enrolled_at": _audit_trail.START, "enrolled_by": "grace"}
        for n in MORE_PEOPLE
    ]
    base = {"created_at": _audit_trail.START, "created_by": "alice"}
    state = {
        "registered_models": models,
        "people": people,
        "evaluation_datasets": [base | {"id": DATASET_ID} | dataset],
    }
    return events, state


def _places(skeleton: list[tuple], lead: int, events: int) -> list[int]:
    """Each target event's seq: in proportion to its simulated day, after the `lead` events.

    So the real time between two of a version's events (the 72 hours a request stays open)
    is what its life says. Two events on one seq move apart, the later one forward (or, at
    the end of the trail, the earlier one back).
    """
    first, last = skeleton[0][0], skeleton[-1][0]
    body = events - lead
    places, previous = [], lead
    for day, *_ in skeleton:
        seq = lead + 1 + int((day - first) / (last - first) * (body - 1))
        previous = max(seq, previous + 1)
        places.append(previous)
    ceiling = events + 1
    for i in range(len(places) - 1, -1, -1):
        ceiling = places[i] = min(places[i], ceiling - 1)
    return places


def populate(gov, events: int, versions: int, per_version: int) -> Store:
    """Write a trail of `events` events in which `versions` targets have `per_version` each."""
    from governance.domain.audit import MAC_PURPOSE

    targets = []
    for v in range(versions):
        model, version = target_name(v)
        targets.append(
            Target(model, version, MODEL_ID_BASE + v % MODELS, VERSION_ID_BASE + v, v // MODELS)
        )
    rng = random.Random(2026)
    dataset_digest = new_digest(rng)
    prelude, prelude_state = _prelude(targets, dataset_digest)
    skeleton = _skeleton(versions, per_version, len(gov.policy.canary.steps) - 1)
    bulk = events - len(prelude) - len(skeleton)
    if bulk < _audit_trail.MODELS + len(_audit_trail.PEOPLE) + 1:
        raise SystemExit(f"--events {events} is too few for {versions} x {per_version} events")
    others, other_state = _audit_trail.trail(bulk)
    head = list(islice(others, _audit_trail.MODELS + len(_audit_trail.PEOPLE) + 1))
    lead = len(head) + len(prelude)  # events before the first target event
    step = SPAN / events
    places = _places(skeleton, lead, events)
    with gov.engine.begin() as conn:
        _audit_trail.write_state(conn, prelude_state)
        write_documents(conn, targets)
        life = Life(gov, conn, targets)
        life.dataset_digest = dataset_digest

        def stream():
            yield from chain(head, prelude)
            slots = iter(zip(places, skeleton, strict=True))
            nxt = next(slots, None)
            for seq in range(lead + 1, events + 1):
                if nxt is not None and nxt[0] == seq:
                    _, (_day, named, kind, n, acting) = nxt
                    now = _audit_trail.stamp(seq, step)
                    yield life.event(kind, targets[named], targets[acting], n, now)
                    nxt = next(slots, None)
                else:
                    yield next(others)

        _audit_trail.write_trail(conn, stream(), gov.keyring.derive(MAC_PURPOSE), step)
        extra = life.finish()
        _audit_trail.write_state(conn, other_state)
    written = sum(len(rows) for rows in (*prelude_state.values(), *other_state.values()))
    return Store(targets, events, len(skeleton), written + extra + len(skeleton))


def end_of_trail(events: int) -> datetime:
    """The timestamp of the last event of a trail of `events` written by `populate`."""
    return _audit_trail.stamp(events, SPAN / events)
