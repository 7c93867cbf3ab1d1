"""`governance init`: create or upgrade the schema."""

from __future__ import annotations

from governance.bootstrap import open_governance
from governance.cli.context import console
from governance.keyring import create_secret_key
from governance.store.engine import masked
from governance.store.schema import upgrade


def init() -> None:
    """Create or upgrade the governance database schema, and check the policy file."""
    gov = open_governance(check_schema=False)
    try:
        policy = gov.policy  # a bad policy stops here, naming the key, before any change
        key_file = gov.settings.resolved_secret_key_file
        key_created = create_secret_key(key_file)
        settings = gov.settings
        before, after = upgrade(
            gov.engine,
            app_role=settings.app_role,
            gateway_role=settings.gateway_role,
            auditor_role=settings.auditor_role,
        )
        gov.settings.resolved_artifact_root.mkdir(parents=True, exist_ok=True)
    finally:
        gov.close()
    state = "created" if before is None else ("up to date" if before == after else "upgraded")
    console.print(
        f"schema {state} at revision {after}: {masked(gov.settings.resolved_database_url)}"
    )
    granted = [
        f"{what} {role}"
        for what, role in (
            ("application", settings.app_role),
            ("gateway", settings.gateway_role),
            ("auditor", settings.auditor_role),
        )
        if role
    ]
    if granted and gov.engine.dialect.name == "postgresql":
        console.print(f"database roles granted: {', '.join(granted)}")
    elif granted:
        console.print(f"database roles not granted (PostgreSQL only): {', '.join(granted)}")
    console.print(f"artifacts: {gov.settings.resolved_artifact_root.resolve()}")
    made = "created (mode 0600)" if key_created else "kept"
    console.print(f"secret key: {key_file.resolve()} {made}; keep it outside the database")
    console.print(
        f"policy: {gov.settings.resolved_policy_file} (version {policy.version[:12]}, "
        f"{len(policy.roster)} people in the roster)"
    )
