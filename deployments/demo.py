"""`make demo`: the whole lifecycle built so far, on embedded defaults, in a fresh home.

It trains two small scikit-learn models on a dataset bundled with scikit-learn,
registers them with full cards through the real CLI, moves one through staging to
production, and prints the model table, the card and the verified audit chain.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from datetime import date
from pathlib import Path

import skops.io as sio
import yaml
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

HOME = Path(".governance/demo")
MODEL = "tumor-triage"


def step(title: str) -> None:
    """Print a section heading."""
    print(f"\n=== {title} ===", flush=True)


def governance(*argv: str, expect_failure: bool = False) -> int:
    """Run the real `governance` CLI in-process and echo the command like a shell would."""
    from governance.cli import run

    print(f"$ governance {shlex.join(argv)}", flush=True)
    code = run(list(argv))
    sys.stdout.flush()
    if (code != 0) != expect_failure:
        raise SystemExit(f"demo: `governance {shlex.join(argv)}` exited {code}")
    return code


def train(workdir: Path) -> list[tuple[str, Path, dict[str, float], dict]]:
    """Fit two classifiers and save them with skops; return (version, file, metrics, params)."""
    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, random_state=7)
    trained = []
    for version, c in (("1.0.0", 1.0), ("1.1.0", 0.05)):
        model = make_pipeline(StandardScaler(), LogisticRegression(C=c)).fit(x_train, y_train)
        predicted = model.predict(x_test)
        metrics = {
            "accuracy": round(accuracy_score(y_test, predicted), 4),
            "f1_weighted": round(f1_score(y_test, predicted, average="weighted"), 4),
            "auc_roc": round(roc_auc_score(y_test, model.predict_proba(x_test)[:, 1]), 4),
        }
        path = workdir / f"{MODEL}-{version}.skops"
        sio.dump(model, path)
        trained.append((version, path, metrics, {"C": c, "scaler": "standard"}))
    return trained


def write_card(workdir: Path, version: str, metrics: dict[str, float], params: dict) -> Path:
    """A complete high-risk card for one trained version."""
    card = {
        "name": MODEL,
        "version": version,
        "owner": "alice",
        "team": "clinical-ml",
        "intended_use": "Prioritise biopsy review queues by predicted malignancy; a "
        "pathologist reviews every case.",
        "out_of_scope_uses": ["Diagnosis without pathologist review", "Paediatric patients"],
        "primary_users": ["Pathology review coordinators"],
        "training_data_description": "Wisconsin diagnostic breast cancer data (569 cases, 30 "
        "features from digitised FNA images), 70/30 split.",
        "training_data_version": "sklearn-breast-cancer-1.0",
        "training_date": date.today(),
        "training_pipeline": "deployments/demo.py: StandardScaler + LogisticRegression",
        "hyperparameters": params,
        "evaluation_metrics": metrics,
        "performance_by_group": {"all": metrics},
        "known_limitations": ["Single-site data", "No demographic attributes to audit fairness"],
        "risk_level": "high",
        "ethical_considerations": "False negatives delay care; the score only orders a queue.",
        "fairness_assessment": "No protected attributes in the data; per-site audit pending.",
        "review_schedule": "quarterly",
        "retirement_criteria": {
            "max_age_days": 180,
            "min_accuracy": 0.9,
            "max_drift_share": 0.3,
            "notes": "retire on any drop below 0.9 accuracy",
        },
    }
    path = workdir / f"card-{version}.yaml"
    path.write_text(yaml.safe_dump(card, sort_keys=False))
    return path


def fresh_home() -> Path:
    """A clean demo home so the demo always starts from nothing."""
    shutil.rmtree(HOME, ignore_errors=True)
    (HOME / "work").mkdir(parents=True)
    os.environ["GOVERNANCE_HOME"] = str(HOME)
    # Approvers in the demo answer at once; a short poll keeps the run moving.
    os.environ["GOVERNANCE_PAUSE_POLL_SECONDS"] = "0.5"
    os.environ.pop("GOVERNANCE_DATABASE_URL", None)
    os.environ.pop("GOVERNANCE_ARTIFACT_ROOT", None)
    return HOME / "work"


def registry_tour(workdir: Path) -> None:
    """Register two versions, promote one, show the refusals, print the record."""
    step("1. train two models on scikit-learn's bundled breast-cancer data")
    trained = train(workdir)
    for version, path, metrics, _ in trained:
        print(f"{MODEL} {version}: {metrics} -> {path}")
    step("2. initialise the governance database and register both versions with full cards")
    governance("init")
    for version, path, metrics, params in trained:
        card = write_card(workdir, version, metrics, params)
        governance(
            "models",
            "register",
            MODEL,
            version,
            "--artifact",
            str(path),
            "--card",
            str(card),
            "--by",
            "alice",
        )
    step("3. move 1.0.0 through staging to production")
    governance("models", "transition", MODEL, "1.0.0", "staging", "--by", "bob", "--reason", "demo")
    governance(
        "models", "transition", MODEL, "1.0.0", "production", "--by", "carol", "--reason", "demo"
    )
    governance("models", "alias", MODEL, "champion", "1.0.0", "--by", "carol")
    step("4. bad input is refused with one clear line, and nothing changes")
    governance(
        "models", "transition", MODEL, "1.1.0", "production", "--by", "bob", expect_failure=True
    )
    governance(
        "models",
        "register",
        MODEL,
        "1.2",
        "--artifact",
        str(trained[0][1]),
        "--card",
        str(workdir / "card-1.0.0.yaml"),
        "--by",
        "alice",
        expect_failure=True,
    )
    step("5. the registry")
    governance("models", "list")
    governance("models", "show", f"{MODEL}@production")
    governance("models", "verify", MODEL, "1.0.0")
    step("6. the production card as Markdown")
    governance("models", "card", MODEL, "1.0.0", "--format", "md")


def main() -> None:
    """Run the demo end to end."""
    from deployments.demo_promotion import promotion_tour

    workdir = fresh_home()
    registry_tour(workdir)
    step("7. the registry's audit trail so far")
    governance("models", "history", MODEL)
    promotion_tour(workdir, HOME)
    step("12. the whole audit trail, verified")
    governance("audit", "log", "--model", MODEL)
    governance("audit", "verify")
    print(f"\ndemo state kept in {HOME}/ (GOVERNANCE_HOME={HOME} governance models list)")


if __name__ == "__main__":
    main()
