"""What every demo chapter shares: the demo home, the real CLI, and people's authenticators."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import shutil
import sys
import time
from datetime import date
from pathlib import Path

import pyotp
import skops.io as sio
import yaml
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from governance.config import EXAMPLE_POLICY

HOME = Path(".governance/demo")
WORK = HOME / "work"
MODEL = "tumor-triage"
ROSTER = ("alice", "bob", "carol", "dave", "erin", "frank", "heidi")
ADMIN = "grace"  # enrols people and creates client keys; approves nothing
_SECRET = re.compile(r"manual entry: ([A-Z2-7]+)")
# A terminal QR code: block characters only. The demo log shows the URI instead.
_QR_LINE = re.compile(r"^[\s\u2580-\u259f]+$")


def step(title: str) -> None:
    """Print a section heading."""
    print(f"\n=== {title} ===", flush=True)


def _run(run, argv: tuple[str, ...], prompt: str, expect_failure: bool, quiet: bool) -> str:
    """Run a CLI in-process, echo it like a shell would, and return its output."""
    print(f"{prompt} governance {shlex.join(argv)}", flush=True)
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        code = run(list(argv))
    text = captured.getvalue()
    if not quiet:
        print(text, end="", flush=True)
    sys.stderr.flush()
    if (code != 0) != expect_failure:
        raise SystemExit(f"demo: `governance {shlex.join(argv)}` exited {code}")
    return text


def governance(*argv: str, expect_failure: bool = False, quiet: bool = False) -> str:
    """A person's `governance` command: the thin client, with only the server's URL.

    Offline commands (checking a pack) run on the laptop itself, as the console script does.
    """
    from governance.entry import OFFLINE_COMMANDS

    if any(list(argv[: len(command)]) == command for command in OFFLINE_COMMANDS):
        from governance.cli import run
    else:
        from governance.remote.cli import run

    return _run(run, argv, "$", expect_failure, quiet)


def host(*argv: str, expect_failure: bool = False, quiet: bool = False) -> str:
    """The platform team's command on the server host: the full CLI, database and keys."""
    from governance.cli import run

    return _run(run, argv, "(server host) $", expect_failure, quiet)


def client_key(people: Authenticators, app: str, *scope: str) -> str:
    """The admin runs `governance clients create APP ...`; the key it shows once."""
    people.login(ADMIN)
    out = governance("clients", "create", app, *scope)
    return next(line for line in out.splitlines() if line.startswith("key: "))[len("key: ") :]


class Authenticators:
    """Each person's authenticator app: pyotp computes the code their phone would show.

    A code is accepted once, and never an older one; so when a person acts twice within
    one 30-second step, their app's next code is used, and past that the demo waits.
    """

    def __init__(self) -> None:
        self.secrets: dict[str, str] = {}
        self.last: dict[str, int] = {}
        self.current: str | None = None

    def first_admin(self, name: str) -> None:
        """`governance server init --admin NAME` on the host: keys, schema, the first admin."""
        out = host("server", "init", "--admin", name, quiet=True)
        print("\n".join(line for line in out.splitlines() if not _QR_LINE.match(line)))
        self.secrets[name] = _SECRET.search(out).group(1)

    def enroll(self, name: str, *, show: bool) -> None:
        """`governance people enroll NAME` by the admin; the secret kept as a phone would."""
        out = governance("people", "enroll", name, quiet=not show)
        self.secrets[name] = _SECRET.search(out).group(1)
        if not show:
            print(f"  (enrolled {name}: QR code and URI shown on their screen only)")

    def code(self, name: str) -> str:
        """The next code `name`'s app shows that has not been used yet."""
        while True:
            now_step = int(time.time()) // 30
            wanted = max(now_step, self.last.get(name, -1) + 1)
            if wanted <= now_step + 1:
                break
            time.sleep((now_step + 1) * 30 - time.time() + 0.05)
        self.last[name] = wanted
        return pyotp.TOTP(self.secrets[name]).at(wanted * 30)

    def login(self, name: str) -> None:
        """Work on `name`'s laptop: their own session file, logged in once with a code."""
        session = HOME.resolve() / "laptops" / name / "session.json"
        os.environ["GOVERNANCE_SESSION_FILE"] = str(session)
        self.current = name
        if session.exists():
            print(f"(on {name}'s laptop, logged in)")
            return
        governance("login", name, "--code", self.code(name))

    @contextlib.contextmanager
    def laptop(self, name: str):
        """Act on `name`'s laptop for a while, then go back to the laptop in use before."""
        before = self.current
        self.login(name)
        try:
            yield
        finally:
            if before:
                self.login(before)


def fresh_home() -> Path:
    """A clean demo home so the demo always starts from nothing; returns the work directory."""
    shutil.rmtree(HOME, ignore_errors=True)
    WORK.mkdir(parents=True)
    for key in (
        "GOVERNANCE_DATABASE_URL",
        "GOVERNANCE_ARTIFACT_ROOT",
        "GOVERNANCE_SECRET_KEY_FILE",
    ):
        os.environ.pop(key, None)
    os.environ.update(
        GOVERNANCE_HOME=str(HOME),
        GOVERNANCE_POLICY_FILE=str(demo_policy()),
        GOVERNANCE_SESSION_FILE=str(HOME / "session.json"),
        GOVERNANCE_SIGNING_KEY_FILE=str(HOME / "keys" / "audit-signing.key"),
        GOVERNANCE_ANCHOR_DIR=str(HOME / "anchors"),
    )
    return WORK


# The example policy with bake times a demo can wait for; the statistics are the same.
DEMO_ROLLOUTS = {
    "canary": {
        "steps": [20, 50, 100],
        "bake_minutes": 0.2,
        "min_samples": 40,
        "min_labels": 30,
        "max_extensions": 4,
        "watchdog_grace_minutes": 5,
        # A p95 over a few hundred requests on a busy laptop is noisy: only a 50% rise fails.
        "latency_min_effect": 0.5,
    },
    "blue_green": {"smoke_rows": 20, "scale_down_delay_minutes": 10},
    "experiments": {"min_samples_per_variant": 150},
    "prompts": {
        "canary": {
            "steps": [50, 100],
            "bake_minutes": 0.1,
            "min_samples": 40,
            "latency_min_effect": 0.5,
        },
    },
}


def demo_policy() -> Path:
    """The shipped example policy with the demo's short rollout bakes, in the demo home."""
    policy = yaml.safe_load(EXAMPLE_POLICY.read_text())
    policy.update(DEMO_ROLLOUTS)
    path = HOME / "policy.yaml"
    path.write_text(yaml.safe_dump(policy, sort_keys=False))
    return path


def train(workdir: Path) -> list[tuple[str, Path, dict[str, float], dict]]:
    """Fit three classifiers and save them with skops; return (version, file, metrics, params)."""
    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, random_state=7)
    trained = []
    for version, c in (("1.0.0", 1.0), ("1.1.0", 0.05), ("1.2.0", 0.5)):
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
        "training_pipeline": "deployments/demo: StandardScaler + LogisticRegression",
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
            "max_drift_share": 0.05,  # two of thirty features drifting (see chapter 5)
            "notes": "retire on any drop below 0.9 accuracy",
        },
    }
    path = workdir / f"card-{version}.yaml"
    path.write_text(yaml.safe_dump(card, sort_keys=False))
    return path
