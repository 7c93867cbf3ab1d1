"""Annex IV point 1 and the descriptive items of point 2: what the system is and how it was made."""

from __future__ import annotations

from governance.domain.compliance_pack import Draft, Item
from governance.domain.models import ModelKind, semver_key
from governance.services.compliance import sources
from governance.services.compliance.records import VersionRecords


def description_items(records: VersionRecords) -> list[Item]:
    """Items 1(a) to 1(h), 2(a) to 2(d) and 2(h)."""
    return [
        _purpose_and_version(records),
        *_provider_only(records),
        _development(records),
        _provider_item(records, "2(b)", "design_choices", "Design specifications"),
        _provider_item(records, "2(c)", "architecture", "Architecture and compute"),
        _data(records),
        _cybersecurity(records),
    ]


def _purpose_and_version(records: VersionRecords) -> Item:
    draft = Draft("1(a)")
    model, found, doc = records.model, records.version, records.document
    latest_card = records.cards[-1] if records.cards else None
    if draft.need("intended use (card)", bool(latest_card and latest_card.card.intended_use)):
        draft.say(f"Intended use (model card): {latest_card.card.intended_use}")
        draft.cite(sources.card(model.name, found.version, latest_card))
    sources.provided_field(draft, records, "intended_purpose", "Intended purpose")
    provider = sources.document_field(records, "provider")
    if sources.provided(
        draft, model.name, doc, provider.name if provider else None, "Provider", "provider.name"
    ):
        for label, value in (("Address", provider.address), ("Contact", provider.contact)):
            if value:
                draft.say(f"{label}: {value}")
    registered = records.of_type("model.version_registered")
    draft.need("version registration (audit trail)", bool(registered))
    draft.cite(*(sources.event(e) for e in registered + records.of_type("model.registered")))
    draft.say(
        f"Version {found.version} of {model.name} ({model.kind.value}, risk "
        f"{model.risk_level.value}), registered by {found.created_by} at "
        f"{found.created_at:%Y-%m-%d %H:%M} UTC; now {found.stage.value}."
    )
    draft.table(
        "Versions of the model",
        ["version", "stage", "registered", "by", "artifact", "training data"],
        [
            [
                f"**{v.version}**" if v.version == found.version else v.version,
                v.stage.value,
                f"{v.created_at:%Y-%m-%d}",
                v.created_by,
                sources.short(v.artifact_digest) or (v.llm_config or {}).get("base_model", ""),
                v.training_data_version,
            ]
            for v in records.versions
        ],
    )
    earlier = [v for v in records.versions if semver_key(v.version) < semver_key(found.version)]
    if earlier:
        draft.say(f"It follows {earlier[-1].version}; {len(earlier)} earlier version(s) exist.")
    else:
        draft.say("It is the model's first version.")
    return draft.item()


_PROVIDER_FIELDS = (
    ("1(b)", "interactions", "Interaction with hardware and software"),
    ("1(c)", "software_versions", "Relevant software versions and update requirements"),
    ("1(d)", "market_forms", "Forms placed on the market"),
    ("1(e)", "hardware", "Hardware it runs on"),
    ("1(f)", "product_component", "As a component of products"),
    ("1(g)", "user_interface", "User interface for the deployer"),
    ("1(h)", "instructions_for_use", "Instructions for use"),
)


def _provider_only(records: VersionRecords) -> list[Item]:
    return [_provider_item(records, *spec) for spec in _PROVIDER_FIELDS]


def _provider_item(records: VersionRecords, item_id: str, field: str, label: str) -> Item:
    draft = Draft(item_id)
    sources.provided_field(draft, records, field, label)
    if item_id == "1(c)":
        _software_facts(draft, records)
    return draft.item()


def _software_facts(draft: Draft, records: VersionRecords) -> None:
    found = records.version
    if found.llm_config:
        config = ", ".join(f"{k}={v}" for k, v in sorted(found.llm_config.items()))
        draft.say(f"Recorded configuration of the LLM version: {config}.")
    elif found.artifact_digest:
        draft.say(
            f"The artifact (sha256 {found.artifact_digest}) is a skops file, loaded only after "
            "its digest matches, through an allow-list of types."
        )


def _development(records: VersionRecords) -> Item:
    draft = Draft("2(a)")
    found = records.version
    registered = records.of_type("model.version_registered")
    card = records.cards[-1] if records.cards else None
    # The registered fact first; the card's statement where the registration named none.
    pipeline = found.training_pipeline or (card.card.training_pipeline if card else "")
    hyperparameters = found.hyperparameters or (card.card.hyperparameters if card else {})
    if draft.need("training pipeline (registration or card)", bool(pipeline)):
        draft.say(f"Training pipeline: {pipeline}")
        if hyperparameters:
            shown = ", ".join(f"{k}={v}" for k, v in sorted(hyperparameters.items()))
            draft.say(f"Hyperparameters: {shown}")
        if records.model.kind == ModelKind.llm and found.llm_config:
            draft.say(f"Pre-trained model used: {found.llm_config.get('base_model', '?')}")
        draft.cite(*(sources.event(e) for e in registered))
        if not found.training_pipeline:
            draft.cite(sources.card(records.model.name, found.version, card))
    sources.provided_field(draft, records, "development_methods", "Development methods")
    return draft.item()


def _data(records: VersionRecords) -> Item:
    draft = Draft("2(d)")
    card = records.cards[-1].card if records.cards else None
    described = bool(card and card.training_data_description)
    if draft.need("training data description (card)", described):
        draft.say(f"Training data: {card.training_data_description}")
        for label, value in (
            (
                "Training data version",
                card.training_data_version or records.version.training_data_version,
            ),
            ("Data volume", card.data_volume),
            ("Personal data handling", card.pii_handling),
        ):
            if value:
                draft.say(f"{label}: {value}")
        draft.cite(sources.card(records.model.name, records.version.version, records.cards[-1]))
    evaluated = records.of_type("model.evaluated")
    if draft.need("evaluation data with its digest (model.evaluated)", bool(evaluated)):
        rows = [
            [
                f"#{e.seq}",
                e.details.get("dataset", ""),
                e.details.get("dataset_digest", ""),
                e.ts[:10],
            ]
            for e in evaluated
        ]
        draft.table("Data the version was tested on", ["event", "dataset", "sha256", "date"], rows)
        draft.cite(*(sources.event(e) for e in evaluated))
    references = records.of_type("monitoring.reference_stored")
    for found in references:
        draft.say(
            f"Reference sample for drift checks: {found.details.get('rows')} rows from "
            f"{found.details.get('source')} (sha256 {found.details.get('digest')})."
        )
        draft.cite(sources.event(found))
    return draft.item()


def _cybersecurity(records: VersionRecords) -> Item:
    draft = Draft("2(h)")
    sources.provided_field(draft, records, "cybersecurity", "Cybersecurity measures")
    draft.say(
        "Recorded controls: artifacts load only after their sha256 matches; every governed act "
        "is an audit event, hash-chained and MACed with a key kept outside the database; "
        "client applications call the gateway with scoped, revocable keys."
    )
    return draft.item()
