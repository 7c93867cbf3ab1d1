"""compliance.yaml parsing: the safe loader, every field named when it does not validate, and
the digest the trail cites."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from governance.domain.compliance_document import (
    ComplianceDocument,
    InvalidComplianceDocument,
    document_digest,
)
from governance.reports.compliance_yaml import dump_compliance_yaml, load_compliance_yaml

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "compliance" / "churn-classifier.yaml"

DECLARATION = "declaration:\n  reference: D-1\n  signed_by: Jan de Vries\n  signed_on: {}\n"

REFUSED = {
    "bad date": (
        DECLARATION.format("last tuesday"),
        "compliance.yaml field declaration.signed_on: Input should be a valid date or "
        "datetime, invalid character in year",
    ),
    "unknown key": (
        "providr:\n  name: Example Telco B.V.\n",
        "compliance.yaml field providr: Extra inputs are not permitted",
    ),
    "unknown nested key": (
        "provider:\n  name: Example Telco B.V.\n  vat: NL001\n",
        "compliance.yaml field provider.vat: Extra inputs are not permitted",
    ),
    "missing required nested field": (
        "declaration:\n  reference: D-1\n  signed_on: 2025-02-03\n",
        "compliance.yaml field declaration.signed_by: Field required",
    ),
    "bad choice in a list": (
        "standards:\n  applied:\n    - reference: ISO/IEC 42001:2023\n      applied: most\n",
        "compliance.yaml field standards.applied.0.applied: Input should be 'full' or 'part'",
    ),
    "empty text": (
        'intended_purpose: ""\n',
        "compliance.yaml field intended_purpose: String should have at least 1 character",
    ),
    "duplicate key": (
        "intended_purpose: one\nintended_purpose: two\n",
        "malformed compliance YAML: line 2, column 1: duplicate key 'intended_purpose'",
    ),
    "not a mapping": (
        "- provider\n",
        "malformed compliance YAML: expected a mapping of fields, got list",
    ),
    "empty file": ("", "malformed compliance YAML: the document is empty"),
    "python tag": (
        "provider: !!python/object/apply:os.system ['true']\n",
        "malformed compliance YAML: line 1, column 11: could not determine a constructor for "
        "the tag 'tag:yaml.org,2002:python/object/apply:os.system'",
    ),
}


@pytest.mark.parametrize("text, message", REFUSED.values(), ids=REFUSED.keys())
def test_a_document_that_does_not_validate_is_refused_naming_the_field(text, message):
    with pytest.raises(InvalidComplianceDocument) as refused:
        load_compliance_yaml(text)
    assert str(refused.value) == message


def test_the_example_fills_every_field():
    document = load_compliance_yaml(EXAMPLE.read_text())
    empty = [
        name for name in ComplianceDocument.model_fields if getattr(document, name) in (None, [])
    ]
    assert empty == []
    assert document.provider.name == "Example Telco B.V."
    assert [(s.reference, s.applied, s.harmonised) for s in document.standards.applied] == [
        ("ISO/IEC 42001:2023", "part", False),
        ("ISO/IEC 23894:2023", "full", False),
    ]
    assert document.declaration.signed_on == date(2025, 2, 3)


def test_the_digest_ignores_key_order_and_defaults_and_survives_a_round_trip():
    document = load_compliance_yaml(EXAMPLE.read_text())
    again = load_compliance_yaml(dump_compliance_yaml(document))
    assert again == document and document_digest(again) == document_digest(document)
    one = load_compliance_yaml("hardware: x86\nprovider:\n  name: P\n")
    other = load_compliance_yaml("provider:\n  name: P\nhardware: x86\nmarket_forms: []\n")
    assert document_digest(one) == document_digest(other)
    changed = load_compliance_yaml("hardware: arm64\nprovider:\n  name: P\n")
    assert document_digest(changed) != document_digest(one)


def test_an_empty_mapping_is_a_document_of_gaps():
    assert load_compliance_yaml("{}\n") == ComplianceDocument()
