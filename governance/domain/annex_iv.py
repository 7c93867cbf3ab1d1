"""Annex IV of the EU AI Act (Regulation (EU) 2024/1689): its nine points and lettered items.

The technical documentation of Art. 11(1) holds "at least" these. Titles paraphrase the
Annex's own text point by point; points 3 to 9 have no lettered items in the Annex, so each
is one item here. `kind` says where the pack takes an item from: the records, the
provider's compliance.yaml, or both.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

ItemKind = Literal["records", "provider", "records and provider"]


class AnnexItem(BaseModel):
    """One item of Annex IV: its id as the Annex numbers it, its point, and what it asks."""

    model_config = ConfigDict(frozen=True)

    id: str
    point: int
    title: str
    kind: ItemKind


POINTS: dict[int, str] = {
    1: "General description of the AI system",
    2: "Detailed description of the elements of the AI system and of its development",
    3: "Monitoring, functioning and control of the AI system",
    4: "Appropriateness of the performance metrics",
    5: "The risk management system (Art. 9)",
    6: "Relevant changes made through the lifecycle",
    7: "Harmonised standards applied, or the solutions adopted",
    8: "The EU declaration of conformity (Art. 47)",
    9: "Post-market monitoring (Art. 72), with the plan of Art. 72(3)",
}

_ITEMS: tuple[tuple[str, str, ItemKind], ...] = (
    (
        "1(a)",
        "Intended purpose, the provider's name, and the version with its relation to "
        "previous versions",
        "records and provider",
    ),
    ("1(b)", "Interaction with hardware, software or other AI systems", "provider"),
    ("1(c)", "Versions of relevant software or firmware; requirements on updates", "provider"),
    ("1(d)", "The forms in which it is placed on the market or put into service", "provider"),
    ("1(e)", "The hardware on which it is intended to run", "provider"),
    ("1(f)", "Where a component of products: their external features and marking", "provider"),
    ("1(g)", "A basic description of the user interface provided to the deployer", "provider"),
    ("1(h)", "Instructions for use for the deployer", "provider"),
    (
        "2(a)",
        "Methods and steps of development, including pre-trained systems or third-party tools",
        "records and provider",
    ),
    (
        "2(b)",
        "Design specifications: general logic, key design choices, what it optimises for",
        "provider",
    ),
    ("2(c)", "System architecture and the computational resources used", "provider"),
    (
        "2(d)",
        "Data requirements: training methods, data sets, their provenance and selection",
        "records",
    ),
    ("2(e)", "Assessment of the human oversight measures of Art. 14", "records"),
    (
        "2(f)",
        "Pre-determined changes and the solutions that keep the system compliant",
        "records and provider",
    ),
    (
        "2(g)",
        "Validation and testing: data, metrics, test logs and reports dated and signed by "
        "the responsible persons",
        "records",
    ),
    ("2(h)", "Cybersecurity measures", "provider"),
    (
        "3",
        "Capabilities and limitations, accuracy for groups, foreseeable unintended outcomes, "
        "human oversight, input data specifications",
        "records and provider",
    ),
    ("4", "Why the performance metrics suit this system", "records and provider"),
    ("5", "The risk management system in accordance with Art. 9", "records and provider"),
    ("6", "Relevant changes made by the provider through the lifecycle", "records"),
    ("7", "Harmonised standards applied, other standards, or the solutions adopted", "provider"),
    ("8", "A copy of the EU declaration of conformity", "provider"),
    (
        "9",
        "The system that evaluates performance after placing on the market, with its plan",
        "records and provider",
    ),
)

ITEMS: tuple[AnnexItem, ...] = tuple(
    AnnexItem(id=item_id, point=int(item_id.split("(")[0]), title=title, kind=kind)
    for item_id, title, kind in _ITEMS
)
BY_ID: dict[str, AnnexItem] = {item.id: item for item in ITEMS}
