"""Chapter 1: the registry: people enrol, a verified engineer registers, the door holds."""

from __future__ import annotations

from deployments.demo.stage import (
    MODEL,
    ROSTER,
    WORK,
    Authenticators,
    governance,
    step,
    train,
    write_card,
)


def enrol(people: Authenticators) -> None:
    """Everyone in the roster gets an authenticator; alice's enrolment is shown in full."""
    step("2. enrol the roster: each person scans a QR code into an authenticator app")
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
    """Run the registry chapter."""
    step("1. initialise: schema, secret key (mode 0600), and the example policy named explicitly")
    governance("init")
    enrol(people)
    register(people)
    door()
