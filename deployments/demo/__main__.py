"""`make demo`: the whole lifecycle built so far, on embedded defaults, in a fresh home."""

from __future__ import annotations

from deployments.demo import (
    audit_trail,
    compliance,
    forged_spec,
    promotion,
    prompts,
    registry,
    retirement,
    rollout,
)
from deployments.demo.stage import HOME, Authenticators, fresh_home
from deployments.local_stack import free_port


def main() -> None:
    """Run the chapters in order."""
    fresh_home()
    people = Authenticators()
    registry.initialise(people)
    port = free_port()
    stack = promotion.start_stack(port)
    try:
        registry.chapter(people)
        promotion.chapter(people, stack)
        key = rollout.chapter(people, f"http://127.0.0.1:{port}")
        forged_spec.chapter(people, f"http://127.0.0.1:{port}", key)
        retirement.chapter(people)
        prompts.chapter(people, f"http://127.0.0.1:{port}")
        audit_trail.chapter(people)
        compliance.chapter(people)
    finally:
        stack.stop()
    print(f"\ndemo state kept in {HOME}/ (GOVERNANCE_HOME={HOME} governance models list)")


if __name__ == "__main__":
    main()
