"""The provider-written part of a model's Annex IV documentation (`compliance.yaml`).

No record holds a model's intended purpose in the Act's sense, the provider's name, the
standards applied or the declaration of conformity: people write them. They live in one
file per model, registered and versioned like a card, its digest in the trail. Every field
is optional: a field left out is a gap the pack names, never a statement it invents.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from governance.domain.errors import InvalidInput

Text = Annotated[str, Field(min_length=1, max_length=20_000)]
STRICT = ConfigDict(frozen=True, extra="forbid")


class InvalidComplianceDocument(InvalidInput):
    """A compliance.yaml that does not validate; the message names the field."""


class Provider(BaseModel):
    """Who places the system on the market (Annex IV 1(a))."""

    model_config = STRICT

    name: Text
    address: Text | None = None
    contact: Text | None = None


class Standard(BaseModel):
    """One standard or specification applied, in full or in part (Annex IV 7)."""

    model_config = STRICT

    reference: Text
    title: Text | None = None
    applied: Literal["full", "part"] = "full"
    # Published in the Official Journal as a harmonised standard, or another specification.
    harmonised: bool = False


class Standards(BaseModel):
    """The standards applied, or the solutions adopted where none were (Annex IV 7)."""

    model_config = STRICT

    applied: list[Standard] = Field(default_factory=list)
    alternative_solutions: Text | None = None


class Declaration(BaseModel):
    """The EU declaration of conformity of Art. 47, or where its copy is kept (Annex IV 8)."""

    model_config = STRICT

    reference: Text
    signed_by: Text
    signed_on: date
    text: Text | None = None


class ComplianceDocument(BaseModel):
    """What the provider states about a model for its technical documentation."""

    model_config = STRICT

    provider: Provider | None = None
    # 1(a): the intended purpose in the Act's sense (context and conditions of use).
    intended_purpose: Text | None = None
    # 1(b)-(h)
    interactions: Text | None = None
    software_versions: Text | None = None
    market_forms: list[Text] = Field(default_factory=list)
    hardware: Text | None = None
    product_component: Text | None = None
    user_interface: Text | None = None
    instructions_for_use: Text | None = None
    # 2(a)-(c), (f), (h)
    development_methods: Text | None = None
    design_choices: Text | None = None
    architecture: Text | None = None
    predetermined_changes: Text | None = None
    cybersecurity: Text | None = None
    # 3: specifications on input data and foreseeable unintended outcomes.
    input_specifications: Text | None = None
    foreseeable_unintended_outcomes: Text | None = None
    # 4: why the gate's metrics suit this system.
    metrics_rationale: Text | None = None
    # 5: the risk management system of Art. 9.
    risk_management: Text | None = None
    # 7, 8, 9
    standards: Standards | None = None
    declaration: Declaration | None = None
    post_market_plan: Text | None = None


def parse_compliance_document(data: object) -> ComplianceDocument:
    """Validate a parsed compliance.yaml; InvalidComplianceDocument names the first bad field."""
    if not isinstance(data, dict):
        raise InvalidComplianceDocument("compliance.yaml must be a mapping of fields")
    try:
        return ComplianceDocument.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(document)"
        raise InvalidComplianceDocument(f"compliance.yaml field {where}: {first['msg']}") from None


def document_digest(document: ComplianceDocument) -> str:
    """sha256 of the document's canonical JSON: what the trail and the pack cite."""
    body = json.dumps(
        document.model_dump(mode="json", exclude_defaults=True),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(body.encode()).hexdigest()
