"""Chapter 7: EU AI Act evidence: the production model's Annex IV pack, built from the record."""

from __future__ import annotations

import json
import shutil

import yaml

from deployments.demo.stage import HOME, MODEL, WORK, Authenticators, governance, host, step

# What the provider states and no record holds. The declaration of conformity is left out:
# the conformity assessment has not concluded, and the pack names that gap rather than
# inventing one.
DOCUMENT = {
    "provider": {"name": "Example Hospital Group AI Lab", "contact": "ai-office@example.org"},
    "intended_purpose": "Order the biopsy review queue of a pathology lab by the predicted "
    "probability of malignancy, so that likely cancers are read first. A pathologist reads "
    "every case; the model decides nothing alone.",
    "interactions": "Reads tumour measurements from the lab information system; writes a "
    "priority to the review queue. No other AI system.",
    "software_versions": "Python 3.11, scikit-learn, skops artifacts; served by the "
    "governance gateway. Updates are new registered versions through the gate.",
    "market_forms": ["Internal REST API behind the governance gateway"],
    "hardware": "Two x86-64 CPU cores and 1 GiB of memory per gateway process.",
    "product_component": "Not a component of a product: software only.",
    "user_interface": "A priority column in the lab's review queue.",
    "instructions_for_use": "Pathologists read every case; the priority only orders them.",
    "development_methods": "Logistic regression on standardised measurements; "
    "hyperparameters chosen by cross-validation.",
    "design_choices": "Optimised for recall of malignant cases at a fixed review capacity.",
    "architecture": "One scikit-learn pipeline; trained on one CPU in under a minute.",
    "predetermined_changes": "Retraining on new data as a new version, through the same "
    "gate, approvals and canary rollout.",
    "cybersecurity": "Gateway client keys per application; artifacts verified by sha256.",
    "input_specifications": "Thirty numeric tumour measurements, as the Wisconsin dataset.",
    "foreseeable_unintended_outcomes": "A malignant case ordered late; mitigated by reading "
    "every case within the lab's service time.",
    "metrics_rationale": "Accuracy and ROC AUC on a held-out set, with the gap between sites, "
    "match the purpose: ordering, not deciding.",
    "risk_management": "Risks are reviewed by the risk officer at every production approval "
    "and quarterly; the retirement audit flags drift and accuracy loss nightly.",
    "standards": {
        "applied": [
            {"reference": "ISO/IEC 42001:2023", "applied": "part"},
            {"reference": "ISO/IEC 23894:2023", "applied": "full"},
        ]
    },
    "post_market_plan": "Nightly retirement audit; labelled outcomes from the pathologists' "
    "final reads; a quarterly review of the findings by the risk officer.",
}


def chapter(people: Authenticators) -> None:
    """Register the provider's document, build, verify and tamper with the pack."""
    step("39. alice registers the provider's compliance.yaml for the model (versioned)")
    document = WORK / "compliance.yaml"
    document.write_text(yaml.safe_dump(DOCUMENT, sort_keys=False))
    with people.laptop("alice"):
        governance("compliance", "document", MODEL, str(document))
    step("40. heidi (auditor) builds the Annex IV pack of the production version")
    people.login("heidi")
    pack = HOME / "laptops" / "heidi" / "annex-iv"
    shutil.rmtree(pack, ignore_errors=True)
    governance("compliance", "pack", MODEL, "production", "--out", str(pack))
    step("41. its items cite the events they come from: 2(g), the tests and their approvals")
    items = {item["id"]: item for item in json.loads((pack / "items.json").read_text())}
    testing = items["2(g)"]
    for table in testing["tables"][-1:]:
        print(table["title"])
        for row in table["rows"]:
            print("  " + " | ".join(row))
    cited = [s for s in testing["sources"] if s["kind"] == "event"]
    print("cited: " + ", ".join(f"#{s['seq']} {s['digest'][:12]}" for s in cited))
    step("42. anyone with the public key checks the pack offline")
    public_key = HOME / "keys" / "audit-signing.key.pub"
    governance("compliance", "verify", str(pack), "--public-key", str(public_key))
    step("43. one changed byte in a copy (an approver's name in 2(g)) is named")
    copy = pack.with_name("annex-iv-edited")
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(pack, copy)
    edited = json.loads((copy / "items.json").read_text())
    row = next(item for item in edited if item["id"] == "2(g)")["tables"][-1]["rows"][0]
    row[2] = row[2][:-1] + "x"  # carol -> carox: one byte
    text = json.dumps(edited, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    (copy / "items.json").write_text(text)
    governance(
        "compliance", "verify", str(copy), "--public-key", str(public_key), expect_failure=True
    )
    step("44. the gap score of every model, by risk level")
    host("compliance", "status")
