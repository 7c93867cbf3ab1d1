"""A model's compliance.yaml from text, with the cards' safe loader (no repeated keys)."""

from __future__ import annotations

import yaml

from governance.domain.compliance_document import (
    ComplianceDocument,
    InvalidComplianceDocument,
    parse_compliance_document,
)
from governance.reports.card_yaml import load_yaml_mapping


def load_compliance_yaml(text: str) -> ComplianceDocument:
    """Parse compliance.yaml; InvalidComplianceDocument names bad YAML or the first bad field."""
    return parse_compliance_document(
        load_yaml_mapping(text, "compliance", InvalidComplianceDocument)
    )


def dump_compliance_yaml(document: ComplianceDocument) -> str:
    """The document as YAML, with only the fields the provider gave, in the schema's order."""
    data = document.model_dump(mode="json", exclude_defaults=True)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=88)
