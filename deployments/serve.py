"""Serve the deployments of prefect.yaml from this process (local use, no work pool)."""

from __future__ import annotations

from prefect import serve

from flows.promote_model import promote_model

DEPLOYMENTS = {"promote-model": promote_model}


def main() -> None:
    """Register and serve every deployment until interrupted."""
    serve(
        *(flow.to_deployment(name=name, tags=["governance"]) for name, flow in DEPLOYMENTS.items()),
        print_starting_message=True,
    )


if __name__ == "__main__":
    main()
