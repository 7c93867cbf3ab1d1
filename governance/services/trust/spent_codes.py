"""Spending one-time codes that arrived where anyone with API access can read them.

A code typed into a Prefect form sits in the flow run's input until the flow deletes it.
If its attempt was refused (a role the person lacks, a closed request) the code would still
be good for its 30-second step, so whoever reads the input could log in with it. Reading it
therefore spends it, whatever became of the attempt.
"""

from __future__ import annotations

from datetime import datetime

from governance.bootstrap import Governance
from governance.domain.errors import GovernanceError
from governance.domain.identity import canonical_name
from governance.services.trust.identity import SECRET_PURPOSE, matching_steps
from governance.store.unit_of_work import Transaction


def spend_code_in(
    tx: Transaction, roster: list[str], named: str, code: str, now: datetime
) -> list[str]:
    """Burn the step of every roster person whose current code this is; who it burned for.

    The person `named` comes first; the others are checked too, because a code typed under
    someone else's name is still its owner's code.
    """
    code = "".join((code or "").split())
    if len(code) != 6 or not code.isascii() or not code.isdigit():
        return []
    try:
        first = [canonical_name(named)]
    except GovernanceError:
        first = []
    spent = []
    for name in dict.fromkeys([*first, *roster]):
        person = tx.people.find(name) if name in roster else None
        if person is None:
            continue
        steps = matching_steps(tx.keyring.decrypt(SECRET_PURPOSE, person.totp_secret), code, now)
        if steps and tx.people.use_step(name, steps[0]):
            spent.append(name)
    return spent


def spend_code(gov: Governance, named: str, code: str, *, now: datetime) -> list[str]:
    """spend_code_in in its own write transaction (nothing to spend under `identity: none`)."""
    policy = gov.policy
    if policy.identity == "none" or not code:
        return []
    with gov.store.write() as tx:
        return spend_code_in(tx, list(policy.roster), named, code, now)
