"""The secret key kept outside the database, and the purpose-bound keys derived from it.

One 32-byte file (`GOVERNANCE_SECRET_KEY_FILE`, mode 0600, made by `governance init`) keys
the audit MACs, the request tokens, the CLI sessions and the encryption of TOTP secrets.
Each use gets its own HMAC-derived subkey, so a key leaked from one use opens no other.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from functools import cached_property
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from governance.domain.errors import ConfigError

KEY_BYTES = 32


def create_secret_key(path: Path) -> bool:
    """Write a fresh random key with mode 0600 unless one exists; True if it was created."""
    path = Path(path)
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_EXCL: two concurrent inits cannot both write (and one silently replace the other).
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(secrets.token_bytes(KEY_BYTES))
        out.flush()
        os.fsync(out.fileno())
    return True


class Keyring:
    """Derives purpose keys from the secret key file, read on first use."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @cached_property
    def master(self) -> bytes:
        """The raw secret key; ConfigError naming the file when it is missing or malformed."""
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
        if len(data) != KEY_BYTES:
            raise ConfigError(
                f"secret key file {self.path} holds {len(data)} bytes, expected {KEY_BYTES}"
            )
        return data

    def derive(self, purpose: str) -> bytes:
        """The subkey for one purpose (e.g. 'audit-mac', 'request-token')."""
        return hmac.new(self.master, purpose.encode(), hashlib.sha256).digest()

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
