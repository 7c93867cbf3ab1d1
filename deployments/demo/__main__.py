"""`make demo`: the whole lifecycle built so far, on embedded defaults, in a fresh home."""

from __future__ import annotations

from deployments.demo import audit_trail, promotion, registry
from deployments.demo.stage import HOME, Authenticators, fresh_home


def main() -> None:
    """Run the chapters in order."""
    fresh_home()
    people = Authenticators()
    registry.chapter(people)
    promotion.chapter(people)
    audit_trail.chapter()
    print(f"\ndemo state kept in {HOME}/ (GOVERNANCE_HOME={HOME} governance models list)")


if __name__ == "__main__":
    main()
