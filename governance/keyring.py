"""The secret key kept outside the database, and the purpose-bound keys derived from it.

One 32-byte file (`GOVERNANCE_SECRET_KEY_FILE`, mode 0600, made by `governance init`) keys
the audit MACs, the request tokens, the CLI sessions and the encryption of TOTP secrets.
Each use gets its own HMAC-derived subkey, so a key leaked from one use opens no other.

A process that needs only some uses (the gateway) is given a purpose key file instead: JSON
`{"purposes": {"audit-mac": "<hex>", ...}}` holding those subkeys, written from the master
by `write_purpose_keys`. The same setting names either kind; the content says which. A
purpose key file derives nothing else: asking it for any other purpose is a ConfigError
naming the file and the purpose, so a gateway host cannot decrypt a TOTP secret or mint a
session.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Iterable, Mapping
from functools import cached_property
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from governance.domain.errors import ConfigError

KEY_BYTES = 32
PURPOSES_FIELD = "purposes"


def create_secret_key(path: Path) -> bool:
    """Write a fresh random key with mode 0600 unless one exists; True if it was created."""
    path = Path(path)
    if path.exists():
        return False
    _write_private(path, secrets.token_bytes(KEY_BYTES))
    return True


def _write_private(path: Path, data: bytes) -> None:
    """Create `path` with mode 0600 and write `data` durably; never replaces a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_EXCL: two concurrent writers cannot both write (and one silently replace the other).
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


def write_purpose_keys(master: Keyring, purposes: Iterable[str], path: Path) -> list[str]:
    """Write a purpose key file (mode 0600) holding `master`'s subkeys for `purposes` only.

    ConfigError if `path` exists (a key file is never overwritten) or `master` is itself a
    purpose key file lacking one of them. Returns the purposes written, sorted.
    """
    path = Path(path)
    wanted = sorted(set(purposes))
    if not wanted:
        raise ConfigError("a purpose key file needs at least one purpose")
    keys = {purpose: master.derive(purpose).hex() for purpose in wanted}
    if path.exists():
        raise ConfigError(f"key file {path} exists: remove it first (key files are not replaced)")
    body = json.dumps({PURPOSES_FIELD: keys}, indent=2, sort_keys=True) + "\n"
    _write_private(path, body.encode())
    return wanted


class Keyring:
    """Purpose keys from the secret key file, read on first use: derived from the 32-byte
    master key, or looked up in a purpose key file (JSON) holding only some of them."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @cached_property
    def _contents(self) -> bytes | dict[str, bytes]:
        """The master key's bytes, or purpose -> subkey; ConfigError naming the file."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            raise ConfigError(
                f"secret key file {self.path} does not exist: run `governance init` "
                "(or set GOVERNANCE_SECRET_KEY_FILE)"
            ) from None
        except OSError as exc:
            raise ConfigError(
                f"secret key file {self.path}: cannot read ({exc.strerror})"
            ) from None
        if len(data) == KEY_BYTES:
            return data
        if data.lstrip().startswith(b"{"):
            return _parse_purpose_keys(self.path, data)
        raise ConfigError(
            f"secret key file {self.path} holds {len(data)} bytes, expected {KEY_BYTES}"
            " (or a JSON purpose key file)"
        )

    def reload(self) -> None:
        """Read the file again on next use (the contents are cached after the first)."""
        self.__dict__.pop("_contents", None)

    @property
    def master(self) -> bytes:
        """The raw secret key; ConfigError naming the file when it is missing, malformed, or a
        purpose key file (which holds no master key)."""
        contents = self._contents
        if isinstance(contents, dict):
            raise ConfigError(
                f"key file {self.path} is a purpose key file (it holds keys for "
                f"{', '.join(sorted(contents))} only), not the master secret key"
            )
        return contents

    @property
    def purposes(self) -> frozenset[str] | None:
        """The purposes a purpose key file holds; None for the master key (it derives all)."""
        contents = self._contents
        return frozenset(contents) if isinstance(contents, dict) else None

    def require(self, purposes: Iterable[str]) -> None:
        """ConfigError naming the file and the first purpose it cannot give, if any."""
        for purpose in sorted(set(purposes)):
            self.derive(purpose)

    def derive(self, purpose: str) -> bytes:
        """The subkey for one purpose (e.g. 'audit-mac', 'request-token')."""
        contents = self._contents
        if isinstance(contents, dict):
            found = contents.get(purpose)
            if found is None:
                raise ConfigError(f"key file {self.path} holds no key for purpose {purpose!r}")
            return found
        return hmac.new(contents, purpose.encode(), hashlib.sha256).digest()

    def mac(self, purpose: str, message: str | bytes) -> str:
        """HMAC-SHA256 hex of `message` under the purpose's subkey."""
        data = message.encode() if isinstance(message, str) else message
        return hmac.new(self.derive(purpose), data, hashlib.sha256).hexdigest()

    def check_mac(self, purpose: str, message: str | bytes, mac: str) -> bool:
        """Constant-time check of a MAC made by `mac`."""
        return hmac.compare_digest(self.mac(purpose, message), mac or "")

    def encrypt(self, purpose: str, plaintext: str) -> str:
        """AES-GCM encrypt under the purpose's subkey; nonce and ciphertext as hex."""
        nonce = secrets.token_bytes(12)
        sealed = AESGCM(self.derive(purpose)).encrypt(nonce, plaintext.encode(), purpose.encode())
        return (nonce + sealed).hex()

    def decrypt(self, purpose: str, token: str) -> str:
        """Reverse `encrypt`; ConfigError when the key is not the one that encrypted it."""
        raw = bytes.fromhex(token)
        try:
            plain = AESGCM(self.derive(purpose)).decrypt(raw[:12], raw[12:], purpose.encode())
        except InvalidTag:
            raise ConfigError(
                f"a stored secret does not decrypt with {self.path}: the key file was replaced"
            ) from None
        return plain.decode()


def _parse_purpose_keys(path: Path, data: bytes) -> dict[str, bytes]:
    """purpose -> 32-byte subkey from a purpose key file; ConfigError naming what is wrong."""
    try:
        parsed = json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"purpose key file {path} is not valid JSON: {exc}") from None
    keys = parsed.get(PURPOSES_FIELD) if isinstance(parsed, Mapping) else None
    if not isinstance(keys, Mapping) or not keys:
        raise ConfigError(
            f'purpose key file {path} needs a non-empty "{PURPOSES_FIELD}" object'
            ' ({"purposes": {"PURPOSE": "HEX", ...}})'
        )
    found: dict[str, bytes] = {}
    for purpose, value in keys.items():
        try:
            key = bytes.fromhex(value) if isinstance(value, str) else b""
        except ValueError:
            key = b""
        if len(key) != KEY_BYTES:
            raise ConfigError(
                f"purpose key file {path}: the key for purpose {purpose!r} must be"
                f" {KEY_BYTES} bytes as hex"
            )
        found[str(purpose)] = key
    return found
