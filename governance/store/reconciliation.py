"""Reading the governed state tables into the shape the event replay produces."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from governance.domain.compliance_document import (
    InvalidComplianceDocument,
    document_digest,
    parse_compliance_document,
)
from governance.domain.monitoring import findings_digest
from governance.domain.reconciliation import GovernedState, RequestFacts, audit_fact, prompt_fact
from governance.domain.rollout import RoutingSpec
from governance.domain.spec_seals import SpecRow
from governance.domain.version_facts import FACT_FIELDS, facts_of
from governance.store.evaluation import stored_contents_digest
from governance.store.tables_monitoring import reference_profiles, retirement_audits
from governance.store.tables_promotion import (
    approval_decisions,
    approval_requests,
    evaluation_runs,
)
from governance.store.tables_prompts import prompt_pointer_moves, prompt_versions
from governance.store.tables_registry import (
    compliance_documents,
    model_aliases,
    model_cards,
    model_versions,
    registered_models,
)
from governance.store.tables_rollout import endpoints, routing_specs
from governance.store.tables_trust import people

m, v, a, c = registered_models.c, model_versions.c, model_aliases.c, model_cards.c
r, d = approval_requests.c, approval_decisions.c
_VERSIONS = model_versions.join(registered_models, v.model_id == m.id)

_MODELS = sa.select(m.name, m.risk_level)
_STAGES = sa.select(m.name, v.version, v.stage).select_from(_VERSIONS)
_ALIASES = sa.select(m.name, a.alias, v.version).select_from(
    model_aliases.join(model_versions, a.version_id == v.id).join(
        registered_models, a.model_id == m.id
    )
)
_FACTS = sa.select(m.name, v.version, *(v[name] for name in FACT_FIELDS)).select_from(_VERSIONS)
_EVALUATIONS = sa.select(evaluation_runs)
_CARDS = sa.select(m.name, v.version, c.revision, c.card_hash).select_from(
    model_cards.join(_VERSIONS, c.version_id == v.id)
)
_REQUESTS = sa.select(
    r.id, r.model_name, r.version, r.target_stage, r.status, r.completed_at.is_not(None)
)
# Decisions in the order they were recorded, which is the order of their events.
_DECISIONS = sa.select(d.request_id, d.approver, d.role, d.decision).order_by(d.id)
_PEOPLE = sa.select(people.c.name)
_SPECS = sa.select(
    endpoints.c.name,
    routing_specs.c.number,
    routing_specs.c.spec,
    routing_specs.c.spec_hash,
    routing_specs.c.spec_mac,
).select_from(routing_specs.join(endpoints, routing_specs.c.endpoint_id == endpoints.c.id))

_AUDITS = sa.select(
    retirement_audits.c.id,
    m.name,
    v.version,
    retirement_audits.c.verdict,
    retirement_audits.c.findings,
).select_from(retirement_audits.join(_VERSIONS, retirement_audits.c.model_version_id == v.id))
_DOCUMENTS = sa.select(
    m.name,
    compliance_documents.c.revision,
    compliance_documents.c.document,
    compliance_documents.c.digest,
).select_from(compliance_documents.join(registered_models, compliance_documents.c.model_id == m.id))
_REFERENCES = sa.select(m.name, v.version, reference_profiles.c.digest).select_from(
    reference_profiles.join(_VERSIONS, reference_profiles.c.model_version_id == v.id)
)


_PROMPTS = sa.select(
    prompt_versions.c.prompt_id,
    prompt_versions.c.version,
    prompt_versions.c.status,
    prompt_versions.c.template_digest,
)
_MOVES = sa.select(prompt_pointer_moves.c.prompt_id, prompt_pointer_moves.c.version).order_by(
    prompt_pointer_moves.c.id
)


def _prompt_state(conn: Connection, state: GovernedState) -> None:
    """Prompt versions and the pointer's moves as the tables hold them."""
    state.prompts = {
        (pid, version): prompt_fact(status, digest)
        for pid, version, status, digest in conn.execute(_PROMPTS)
    }
    counts: dict[str, int] = {}
    for pid, version in conn.execute(_MOVES):
        counts[pid] = counts.get(pid, 0) + 1
        state.pointer_moves[(pid, str(counts[pid]))] = version


def content_hash(spec: object) -> str:
    """The digest of a stored spec's content, or a note that it is no valid routing spec."""
    try:
        return RoutingSpec.model_validate(spec).digest()
    except ValueError as exc:
        return f"(not a valid routing spec: {str(exc).splitlines()[0]})"


def document_fact(document: object, stored_digest: str) -> str:
    """A stored compliance document's content digest, recomputed (and the stored digest
    beside it when they differ): whoever edits the JSON can edit the digest column too."""
    try:
        content = document_digest(parse_compliance_document(document))
    except InvalidComplianceDocument as exc:
        content = f"(not a valid compliance document: {exc})"
    if content == stored_digest:
        return content
    return f"{content} (its digest column says {stored_digest})"


def read_state(conn: Connection) -> GovernedState:
    """The governed state as the tables hold it now (read inside the caller's snapshot)."""
    state = GovernedState()
    state.models = {name: risk for name, risk in conn.execute(_MODELS)}
    state.versions = {(name, version): stage for name, version, stage in conn.execute(_STAGES)}
    for row in conn.execute(_FACTS):
        values = row._mapping
        state.version_facts[(row.name, row.version)] = facts_of(
            {name: values[name] for name in FACT_FIELDS}
        )
    state.evaluations = {
        row.id: f"{row.model_name}@{row.version} {stored_contents_digest(row)}"
        for row in conn.execute(_EVALUATIONS)
    }
    state.aliases = {(name, alias): version for name, alias, version in conn.execute(_ALIASES)}
    for name, version, revision, card_hash in conn.execute(_CARDS):
        state.cards.setdefault((name, version), {})[revision] = card_hash
    for request_id, model, version, target, status, completed in conn.execute(_REQUESTS):
        state.requests[request_id] = RequestFacts(model, version, target, status, bool(completed))
    for request_id, approver, role, decision in conn.execute(_DECISIONS):
        state.decisions.setdefault(request_id, []).append((approver, role, decision))
    state.people = {name for (name,) in conn.execute(_PEOPLE)}
    # The hash of what the gateway would serve, recomputed from the JSON: the stored
    # spec_hash column is no evidence, since whoever edits the JSON can edit it too.
    for name, number, spec, stored_hash, mac in conn.execute(_SPECS):
        content = content_hash(spec)
        state.specs[(name, str(number))] = content
        state.spec_rows.append(SpecRow(name, number, content, stored_hash, mac))
    state.audits = {
        audit_id: audit_fact(name, version, verdict, findings_digest(findings))
        for audit_id, name, version, verdict, findings in conn.execute(_AUDITS)
    }
    state.references = {(n, ver): digest for n, ver, digest in conn.execute(_REFERENCES)}
    state.documents = {
        (name, str(revision)): document_fact(document, digest)
        for name, revision, document, digest in conn.execute(_DOCUMENTS)
    }
    _prompt_state(conn, state)
    return state
