"""`make demo`: the whole lifecycle built so far, on embedded defaults, in a fresh home.

`--keep` (or `make demo KEEP=1`) leaves the stack running on the demo state afterwards, so
the console, the Prefect UI and the gateway stay browsable until Ctrl-C.
"""

from __future__ import annotations

import argparse
import os

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
from deployments.local_stack import LocalStack, free_port


def main() -> None:
    """Run the chapters in order; with --keep, then serve until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m deployments.demo")
    parser.add_argument("--keep", action="store_true", help="keep the stack running afterwards")
    keep = parser.parse_args().keep
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
        print(f"\nconsole: {os.environ['GOVERNANCE_SERVER_URL']}/ (log in with a code)")
        if keep:
            _serve_until_interrupted(stack, people)
    finally:
        stack.stop()
    print(f"\ndemo state kept in {HOME}/ (GOVERNANCE_HOME={HOME} governance models list)")


def _serve_until_interrupted(stack: LocalStack, people: Authenticators) -> None:
    """Leave the console, the Prefect UI and the gateway up on the demo state."""
    print(f"Prefect UI: {stack.ui_url}")
    print("the demo's people log in with the codes their authenticators show now:")
    for name in sorted(people.secrets):
        print(f"  {name}: secret {people.secrets[name]} (any TOTP app, or `oathtool --totp -b`)")
    print("Ctrl-C stops the stack.", flush=True)
    try:
        for process in stack.processes:
            process.wait()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
