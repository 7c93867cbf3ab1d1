"""Chapter 1: the registry: people enrol, a verified engineer registers, the door holds."""

from __future__ import annotations

import os

from deployments.demo.stage import (
    ADMIN,
    MODEL,
    ROSTER,
    WORK,
    Authenticators,
    governance,
    step,
    train,
    write_card,
)


def initialise(people: Authenticators) -> None:
    """On the server host: schema, keys, and the first admin's authenticator."""
    step(
        "1. the server host: schema, secret and signing keys (mode 0600, outside the "
        f"database), the example policy, and {ADMIN} as the first admin"
    )
    people.first_admin(ADMIN)


def enrol(people: Authenticators) -> None:
    """The admin enrols everyone through the server; alice's enrolment is shown in full."""
    step(
        f"2. {ADMIN} (admin) logs in with only the server's URL and enrols the roster: each "
        "person scans a QR code into an authenticator app"
    )
    print(f"GOVERNANCE_SERVER_URL={os.environ['GOVERNANCE_SERVER_URL']}")
    people.login(ADMIN)
    for name in ROSTER:
        people.enroll(name, show=name == "alice")
    governance("people", "list")


def register(people: Authenticators) -> None:
    """alice logs in with a code and registers three versions with full cards."""
    step("3. alice logs in with her one-time code and registers three versions")
    trained = train(WORK)
    for version, path, metrics, _ in trained:
        print(f"{MODEL} {version}: {metrics} -> {path}")
    people.login("alice")
    for version, path, metrics, params in trained:
        card = write_card(WORK, version, metrics, params)
        governance(
            "models", "register", MODEL, version, "--artifact", str(path), "--card", str(card)
        )


def door() -> None:
    """Staging and production have one door: a direct move is refused, naming it."""
    step("4. the door: a direct move to staging or production is refused")
    governance("models", "transition", MODEL, "1.0.0", "production", expect_failure=True)
    governance("models", "transition", MODEL, "1.0.0", "staging", expect_failure=True)
    step("5. bad input is refused with one clear line, and nothing changes")
    governance(
        "models",
        "register",
        MODEL,
        "1.2",
        "--artifact",
        str(WORK / f"{MODEL}-1.0.0.skops"),
        "--card",
        str(WORK / "card-1.0.0.yaml"),
        expect_failure=True,
    )
    governance("models", "list")
    governance("models", "card", MODEL, "1.0.0", "--format", "md")


def chapter(people: Authenticators) -> None:
    """Run the registry chapter, through the governance server."""
    enrol(people)
    register(people)
    door()
