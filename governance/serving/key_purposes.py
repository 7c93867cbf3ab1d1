"""The keyring purposes a gateway process uses, and nothing else.

A gateway host is given a purpose key file holding only these subkeys
(`governance keys derive --gateway`, or `keyring.write_purpose_keys(master,
GATEWAY_PURPOSES, path)`), never the master key: the master also decrypts every person's TOTP
secret and mints sessions and request tokens, which a gateway has no use for.
"""

from __future__ import annotations

from governance.domain.audit import MAC_PURPOSE
from governance.domain.spec_seals import SPEC_MAC_PURPOSE
from governance.services.rollout.client_keys import ROW_PURPOSE as CLIENT_KEY_PURPOSE
from governance.services.rollout.gateway_credentials import PURPOSE as CREDENTIAL_PURPOSE

GATEWAY_PURPOSES: tuple[str, ...] = (
    # Checks a routing spec's seal before it goes live (services/rollout/spec_seals.py).
    SPEC_MAC_PURPOSE,
    # Checks the MAC of a version's model.version_registered event before loading it, and of
    # the routing.changed event vouching for a spec written before seals existed. HMAC is
    # symmetric: this key could also MAC an event, but the gateway's database role cannot
    # append one (store/db_roles.py).
    MAC_PURPOSE,
    # Checks the smoke test's and trusted infrastructure's X-Governance-Credential headers.
    CREDENTIAL_PURPOSE,
    # Checks the MAC of each client key row (services/rollout/client_keys.py), so a row a
    # database writer inserted or widened opens nothing. The gateway's role cannot insert
    # client_keys rows, so holding this key lets it mint none.
    CLIENT_KEY_PURPOSE,
)
