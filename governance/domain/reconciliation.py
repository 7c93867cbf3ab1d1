"""Replaying audit events into the state they imply, and comparing it with the state tables.

The replay knows only the event types that change governed state; any other type is
ignored, so new kinds of events never break verification. The rules (details keys):

- `model.registered` {risk_level} and `model.risk_changed` {to}: the model's risk level;
- `model.version_registered` {card_hash, and the version's facts}: the version in
  development, card revision 1, and its immutable facts (domain/version_facts.py);
- `model.evaluated` {run_id, contents_digest}: one evaluation run with those contents;
- `model.stage_changed` {to}: the version's stage;
- `model.alias_set` {alias}: the alias points at the event's version;
- `model.card_revised` {revision, card_hash}: one more card revision;
- `approval.requested` {request_id, target_stage}: an open request for the event's version;
- `approval.decided` {request_id, approver, role, decision[, status]}: one decision row,
  and the request's status when the event carries it (a revoke can reopen a request);
- `approval.approved|rejected|expired|voided|cancelled` {request_id}: the request's status
  (`approval.refused` changes nothing);
- `model.promoted`, `model.retirement_approved` and `break_glass.rejection_enacted`
  {request_id}: the request is carried out (completed_at set);
- `person.enrolled` {name}: a people row;
- `routing.changed` {endpoint, spec, spec_hash}: one routing spec of the endpoint;
- `retirement.checked` {audit_id, verdict, findings_digest}: one retirement-audit row;
- `monitoring.reference_stored` {digest}: the version's reference profile;
- `prompt.registered` {template_digest}: a draft prompt version with that template;
  `prompt.submitted`: in review; `prompt.canary_started`: approved (it serves users);
  `prompt.canary_rolled_back`: deprecated;
- `prompt.promoted` {request_id} and `prompt.rolled_back`: one more move of the prompt's
  production pointer, to the event's version; a promotion also approves the version and
  carries out its request, if it names one;
- `compliance.document_registered` {revision, digest}: one revision of the model's
  compliance document, whose content has that digest.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice

from governance.domain.errors import StateMismatch
from governance.domain.spec_seals import SpecRow
from governance.domain.version_facts import evaluation_differences, facts_of, version_differences

_loads = json.loads

_CLOSING = {
    "approval.approved": "approved",
    "approval.rejected": "rejected",
    "approval.expired": "expired",
    "approval.voided": "void",
    "approval.cancelled": "cancelled",
}


@dataclass(slots=True)
class RequestFacts:
    """What the trail says, or the table holds, about one approval request."""

    model: str | None
    version: str | None
    target_stage: str
    status: str = "open"
    completed: bool = False


Decision = tuple[str, str, str]
"""(approver, role, decision)."""


@dataclass
class GovernedState:
    """The governed state: either implied by the events or read from the tables."""

    models: dict[str, str] = field(default_factory=dict)  # name -> risk level
    versions: dict[tuple[str, str], str] = field(default_factory=dict)  # -> stage
    aliases: dict[tuple[str, str], str] = field(default_factory=dict)  # (model, alias) -> version
    cards: dict[tuple[str, str], dict[int, str]] = field(default_factory=dict)  # rev -> hash
    requests: dict[str, RequestFacts] = field(default_factory=dict)
    decisions: dict[str, list[Decision]] = field(default_factory=dict)
    people: set[str] = field(default_factory=set)
    specs: dict[tuple[str, str], str] = field(default_factory=dict)  # (endpoint, number) -> hash
    # Read from the tables only: each spec row's content hash, stored hash and seal.
    spec_rows: list[SpecRow] = field(default_factory=list)
    # audit id -> "model@version verdict findings-digest"
    audits: dict[str, str] = field(default_factory=dict)
    references: dict[tuple[str, str], str] = field(default_factory=dict)  # -> sample digest
    # (prompt, version) -> "status template-digest"
    prompts: dict[tuple[str, str], str] = field(default_factory=dict)
    # (prompt, move number from 1) -> the version the move put in production
    pointer_moves: dict[tuple[str, str], str] = field(default_factory=dict)
    # (model, version) -> fact -> canonical JSON: the registered, immutable facts
    version_facts: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    # evaluation run id -> "model@version contents-digest" ("model@version" alone: an event
    # written before contents were bound, whose contents cannot be compared)
    evaluations: dict[str, str] = field(default_factory=dict)
    # (model, revision) -> the digest of the compliance document's content
    documents: dict[tuple[str, str], str] = field(default_factory=dict)

    def rows(self) -> int:
        """How many state rows this describes."""
        return (
            len(self.models)
            + len(self.versions)
            + len(self.aliases)
            + sum(len(revisions) for revisions in self.cards.values())
            + len(self.requests)
            + sum(len(decided) for decided in self.decisions.values())
            + len(self.people)
            + len(self.specs)
            + len(self.audits)
            + len(self.references)
            + len(self.prompts)
            + len(self.pointer_moves)
            + len(self.evaluations)
            + len(self.documents)
        )


class Replay:
    """Builds the state the events imply, one verified event at a time (see `handlers`).

    `handlers` maps each state-changing event type to a function of (model, version,
    details_json), the shape `verify_rows` calls; a malformed event raises KeyError,
    TypeError or ValueError, which verify_rows turns into StateMismatch naming the event.
    """

    def __init__(self) -> None:
        self.state = GovernedState()
        # Moves replayed per prompt so far: the next move's number, without a scan.
        self._moves: Counter[str] = Counter()
        self.handlers = {
            "model.registered": self._model_registered,
            "model.risk_changed": self._risk_changed,
            "model.version_registered": self._version_registered,
            "model.evaluated": self._evaluated,
            "model.stage_changed": self._stage_changed,
            "model.alias_set": self._alias_set,
            "model.card_revised": self._card_revised,
            "approval.requested": self._requested,
            "approval.decided": self._decided,
            "model.promoted": self._promoted,
            "model.retirement_approved": self._promoted,
            "break_glass.rejection_enacted": self._promoted,
            "person.enrolled": self._enrolled,
            "routing.changed": self._routed,
            "retirement.checked": self._checked,
            "monitoring.reference_stored": self._reference,
            "prompt.registered": self._prompt_registered,
            "prompt.submitted": self._prompt_status("review"),
            "prompt.canary_started": self._prompt_status("approved"),
            "prompt.canary_rolled_back": self._prompt_status("deprecated"),
            "prompt.promoted": self._prompt_promoted,
            "prompt.rolled_back": self._pointer_moved,
            "compliance.document_registered": self._document_registered,
        }
        self.handlers |= {
            event_type: self._closed(status) for event_type, status in _CLOSING.items()
        }

    def _model_registered(self, model, _version, details_json) -> None:
        self.state.models[model] = _loads(details_json)["risk_level"]

    def _risk_changed(self, model, _version, details_json) -> None:
        self.state.models[model] = _loads(details_json)["to"]

    def _version_registered(self, model, version, details_json) -> None:
        details = _loads(details_json)
        self.state.versions[(model, version)] = "development"
        self.state.cards[(model, version)] = {1: details["card_hash"]}
        self.state.version_facts[(model, version)] = facts_of(details)

    def _evaluated(self, model, version, details_json) -> None:
        details = _loads(details_json)
        digest = details.get("contents_digest")
        fact = f"{model}@{version}" + (f" {digest}" if digest else "")
        self.state.evaluations[details["run_id"]] = fact

    def _stage_changed(self, model, version, details_json) -> None:
        self.state.versions[(model, version)] = _loads(details_json)["to"]

    def _alias_set(self, model, version, details_json) -> None:
        self.state.aliases[(model, _loads(details_json)["alias"])] = version

    def _card_revised(self, model, version, details_json) -> None:
        details = _loads(details_json)
        revisions = self.state.cards.setdefault((model, version), {})
        revisions[details["revision"]] = details["card_hash"]

    def _document_registered(self, model, _version, details_json) -> None:
        details = _loads(details_json)
        self.state.documents[(model, str(details["revision"]))] = details["digest"]

    def _requested(self, model, version, details_json) -> None:
        details = _loads(details_json)
        facts = RequestFacts(model, version, details["target_stage"])
        self.state.requests[details["request_id"]] = facts

    def _request(self, request_id: str) -> RequestFacts:
        # A decision on a request the trail never opened still replays; the comparison names it.
        found = self.state.requests.get(request_id)
        if found is None:
            found = self.state.requests[request_id] = RequestFacts(None, None, "?", "?")
        return found

    def _decided(self, _model, _version, details_json) -> None:
        details = _loads(details_json)
        decided = (details["approver"], details["role"], details["decision"])
        self.state.decisions.setdefault(details["request_id"], []).append(decided)
        if "status" in details:
            self._request(details["request_id"]).status = details["status"]

    def _closed(self, status: str) -> Callable[[str | None, str | None, str], None]:
        def close(_model, _version, details_json) -> None:
            self._request(_loads(details_json)["request_id"]).status = status

        return close

    def _promoted(self, _model, _version, details_json) -> None:
        self._request(_loads(details_json)["request_id"]).completed = True

    def _enrolled(self, _model, _version, details_json) -> None:
        self.state.people.add(_loads(details_json)["name"])

    def _checked(self, model, version, details_json) -> None:
        details = _loads(details_json)
        fact = audit_fact(model, version, details["verdict"], details["findings_digest"])
        self.state.audits[details["audit_id"]] = fact

    def _reference(self, model, version, details_json) -> None:
        self.state.references[(model, version)] = _loads(details_json)["digest"]

    def _prompt_registered(self, prompt, version, details_json) -> None:
        digest = _loads(details_json)["template_digest"]
        self.state.prompts[(prompt, version)] = prompt_fact("draft", digest)

    def _prompt_status(self, status: str) -> Callable[[str | None, str | None, str], None]:
        def change(prompt, version, _details_json) -> None:
            digest = self.state.prompts[(prompt, version)].split(" ", 1)[1]
            self.state.prompts[(prompt, version)] = prompt_fact(status, digest)

        return change

    def _pointer_moved(self, prompt, version, _details_json) -> None:
        self._moves[prompt] += 1
        self.state.pointer_moves[(prompt, str(self._moves[prompt]))] = version

    def _prompt_promoted(self, prompt, version, details_json) -> None:
        self._pointer_moved(prompt, version, details_json)
        self._prompt_status("approved")(prompt, version, details_json)
        request_id = _loads(details_json).get("request_id")
        if request_id:
            self._request(request_id).completed = True

    def _routed(self, _model, _version, details_json) -> None:
        details = _loads(details_json)
        self.state.specs[(details["endpoint"], str(details["spec"]))] = details["spec_hash"]


def audit_fact(model: str, version: str, verdict: str, digest: str) -> str:
    """One retirement-audit row as the replay and the table reading both describe it."""
    return f"{model}@{version} {verdict} {digest}"


def prompt_fact(status: str, template_digest: str) -> str:
    """One prompt version as the replay and the table reading both describe it."""
    return f"{status} {template_digest}"


def differences(implied: GovernedState, actual: GovernedState) -> Iterator[str]:
    """Each row where the tables differ from what the events imply, naming the row."""
    yield from _by_key("registered_models", implied.models, actual.models, str, "risk_level is {a}")
    yield from _by_key("model_versions", implied.versions, actual.versions, _at, "stage is {a}")
    yield from _by_key("model_aliases", implied.aliases, actual.aliases, _at, "it points at {a}")
    yield from version_differences(implied.version_facts, actual.version_facts)
    yield from _cards(implied.cards, actual.cards)
    yield from _requests(implied.requests, actual.requests)
    yield from _decisions(implied.decisions, actual.decisions)
    yield from _by_key(
        "routing_specs", implied.specs, actual.specs, _spec, "its content hashes to {a}"
    )
    yield from evaluation_differences(implied.evaluations, actual.evaluations)
    yield from _by_key("retirement_audits", implied.audits, actual.audits, str, "it says {a}")
    yield from _by_key(
        "reference_profiles", implied.references, actual.references, _at, "digest is {a}"
    )
    yield from _by_key("prompt_versions", implied.prompts, actual.prompts, _at, "it is {a}")
    yield from _by_key(
        "prompt_pointer_moves", implied.pointer_moves, actual.pointer_moves,
        lambda key: f"{key[0]} move {key[1]}", "it moved to {a}",
    )  # fmt: skip
    yield from _by_key(
        "compliance_documents", implied.documents, actual.documents,
        lambda key: f"{key[0]} revision {key[1]}", "its document digests to {a}",
    )  # fmt: skip
    for name in sorted(actual.people - implied.people):
        yield f"people {name}: the table has a row that no person.enrolled event accounts for"
    for name in sorted(implied.people - actual.people):
        yield f"people {name}: the events enrol this person but the table has no row"


def require_match(implied: GovernedState, actual: GovernedState) -> int:
    """Raise StateMismatch naming the first differing row; return the rows compared."""
    found = list(islice(differences(implied, actual), 6))
    if found:
        more = " (and more)" if len(found) > 5 else ""
        raise StateMismatch("; ".join(found[:5]) + more)
    return actual.rows()


def _spec(key: tuple[str, str]) -> str:
    return f"{key[0]} spec {key[1]}"


def _at(key: tuple[str, str]) -> str:
    return f"{key[0]}@{key[1]}"


def _by_key(table: str, implied: dict, actual: dict, name, what: str) -> Iterator[str]:
    if implied == actual:  # the common case, compared at C speed
        return
    for key in sorted(actual.keys() | implied.keys(), key=str):
        label = f"{table} {name(key)}"
        if key not in implied:
            yield f"{label}: the table has a row that no event accounts for"
        elif key not in actual:
            yield f"{label}: the events imply a row but the table has none"
        elif implied[key] != actual[key]:
            yield f"{label}: {what.format(a=actual[key])} but the events imply {implied[key]}"


def _cards(implied: dict, actual: dict) -> Iterator[str]:
    if implied == actual:
        return
    for key in sorted(actual.keys() | implied.keys()):
        yield from _by_key(
            f"model_cards {_at(key)}",
            implied.get(key, {}),
            actual.get(key, {}),
            lambda revision: f"revision {revision}",
            "card_hash is {a}",
        )


def _requests(implied: dict[str, RequestFacts], actual: dict[str, RequestFacts]) -> Iterator[str]:
    if implied == actual:
        return
    for key in sorted(actual.keys() | implied.keys()):
        label = f"approval_requests {key}"
        mine, theirs = implied.get(key), actual.get(key)
        if mine is None:
            yield f"{label}: the table has a row that no approval.requested event accounts for"
        elif theirs is None:
            yield f"{label}: the events imply this request but the table has no row"
        elif (theirs.model, theirs.version, theirs.target_stage) != (
            mine.model,
            mine.version,
            mine.target_stage,
        ):
            yield (
                f"{label}: it asks for {theirs.model}@{theirs.version} -> {theirs.target_stage}"
                f" but the events imply {mine.model}@{mine.version} -> {mine.target_stage}"
            )
        elif theirs.status != mine.status:
            yield f"{label}: status is {theirs.status} but the events imply {mine.status}"
        elif theirs.completed != mine.completed:
            said = "set" if theirs.completed else "not set"
            yield (
                f"{label}: completed_at is {said} but the events imply it is "
                + (
                    "set (model.promoted or prompt.promoted)"
                    if mine.completed
                    else "not set (no model.promoted or prompt.promoted)"
                )
            )


def _decisions(implied: dict, actual: dict) -> Iterator[str]:
    if implied == actual:
        return
    for key in sorted(actual.keys() | implied.keys()):
        mine, theirs = Counter(implied.get(key, ())), Counter(actual.get(key, ()))
        for approver, role, decision in sorted((theirs - mine).elements()):
            yield (
                f"approval_decisions of request {key}: {approver} as {role} decided {decision}"
                " in the table but no approval.decided event records it"
            )
        for approver, role, decision in sorted((mine - theirs).elements()):
            yield (
                f"approval_decisions of request {key}: the events record {approver} as {role}"
                f" deciding {decision} but the table has no such row"
            )
