"""Ed25519 keys that sign audit checkpoints, and the signed checkpoint files.

Key files are PEM: the private key PKCS#8 (mode 0600), the public key SubjectPublicKeyInfo
in the same path plus `.pub`. A signature is Ed25519 over the UTF-8 bytes of the
checkpoint's payload (canonical JSON of {events, hash, seq, taken_at}; checkpoints from
before event counts leave `events` out), stored as hex; the key
fingerprint is the sha256 hex of the raw 32-byte public key. Anyone holding the `.pub` can
check a checkpoint, e.g. with `openssl pkeyutl -verify -pubin -inkey KEY.pub -rawin`.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import ValidationError

from governance.domain.audit import Checkpoint, SignedCheckpoint
from governance.domain.errors import ConfigError, Conflict, InvalidInput, SignatureInvalid

_RAW = (serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_path(private_key: Path) -> Path:
    """Where the public half of a private key file lives: beside it, plus `.pub`."""
    return private_key.with_name(private_key.name + ".pub")


def fingerprint(public_key: Ed25519PublicKey) -> str:
    """sha256 hex of the raw public key: names the key in every checkpoint it signs."""
    return hashlib.sha256(public_key.public_bytes(*_RAW)).hexdigest()


def generate_keypair(private_key: Path) -> tuple[Path, str]:
    """Write a new key pair (private 0600, public beside it); refuse to overwrite either file."""
    public = public_key_path(private_key)
    for path in (private_key, public):
        if path.exists():
            raise Conflict(f"{path} already exists: keygen never overwrites a key")
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    try:
        private_key.parent.mkdir(parents=True, exist_ok=True)
        _write_new(private_key, private_pem, 0o600)
        _write_new(public, public_pem, 0o644)
    except FileExistsError as exc:
        raise Conflict(f"{exc.filename} already exists: keygen never overwrites a key") from None
    except OSError as exc:
        raise InvalidInput(f"cannot write {exc.filename or private_key}: {exc.strerror}") from None
    return public, fingerprint(key.public_key())


def _write_new(path: Path, data: bytes, mode: int) -> None:
    # O_EXCL: a concurrent keygen cannot replace a key that was just written.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"{what} {path} does not exist: run `governance audit keygen`"
            " (or set GOVERNANCE_SIGNING_KEY_FILE)"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{what} {path}: cannot read ({exc.strerror})") from None


class Signer:
    """Signs checkpoints with the private key from a PEM file."""

    def __init__(self, path: Path) -> None:
        try:
            key = serialization.load_pem_private_key(_read(path, "signing key"), password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise ConfigError(f"signing key {path} is not a PEM Ed25519 private key") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigError(f"signing key {path} is not an Ed25519 key")
        self.key = key
        self.verifier = Verifier(key.public_key(), path)

    def sign_bytes(self, data: bytes) -> str:
        """A hex Ed25519 signature of `data` (a pack manifest's exact bytes)."""
        return self.key.sign(data).hex()

    def public_pem(self) -> bytes:
        """The public key as PEM (SubjectPublicKeyInfo), as `audit keygen` writes it."""
        return self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, checkpoint: Checkpoint) -> SignedCheckpoint:
        """The checkpoint with its signature and this key's fingerprint."""
        signature = self.key.sign(checkpoint.payload().encode()).hex()
        return SignedCheckpoint(
            **checkpoint.model_dump(),
            key_fingerprint=self.verifier.fingerprint,
            signature=signature,
        )


class Verifier:
    """Checks checkpoint signatures against one public key."""

    def __init__(self, key: Ed25519PublicKey, source: Path) -> None:
        self.key = key
        self.source = source
        self.fingerprint = fingerprint(key)

    @classmethod
    def from_file(cls, path: Path) -> Verifier:
        """Load a PEM public key (SubjectPublicKeyInfo)."""
        try:
            key = serialization.load_pem_public_key(_read(path, "public key"))
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise ConfigError(f"public key {path} is not a PEM Ed25519 public key") from None
        if not isinstance(key, Ed25519PublicKey):
            raise ConfigError(f"public key {path} is not an Ed25519 key")
        return cls(key, path)

    def check_bytes(self, data: bytes, signature: str, source: Path | str) -> None:
        """Raise SignatureInvalid naming `source` unless `signature` is this key's over `data`."""
        try:
            self.key.verify(bytes.fromhex(signature.strip()), data)
        except (InvalidSignature, ValueError):
            raise SignatureInvalid(
                f"{source}: the signature does not verify with {self.source} "
                f"(key {self.fingerprint[:16]}): the manifest or its signature was altered, "
                "or another key signed it"
            ) from None

    def check(self, checkpoint: SignedCheckpoint, source: Path | str) -> None:
        """Raise SignatureInvalid naming `source` unless this key signed the checkpoint."""
        if checkpoint.key_fingerprint != self.fingerprint:
            raise SignatureInvalid(
                f"checkpoint {source}: signed by key {checkpoint.key_fingerprint[:16]}, not by"
                f" the public key {self.source} ({self.fingerprint[:16]})"
            )
        try:
            self.key.verify(bytes.fromhex(checkpoint.signature), checkpoint.payload().encode())
        except (InvalidSignature, ValueError):
            raise SignatureInvalid(
                f"checkpoint {source}: the signature does not verify with {self.source}"
                " (the checkpoint or its signature was altered)"
            ) from None


def read_checkpoint(path: Path) -> SignedCheckpoint:
    """Load a signed checkpoint file; an unsigned one is SignatureInvalid naming the file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"checkpoint file {path} is unreadable: {exc}") from None
    if isinstance(data, dict) and "signature" not in data:
        raise SignatureInvalid(f"checkpoint {path}: it is not signed")
    try:
        return SignedCheckpoint.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "file"
        raise InvalidInput(f"checkpoint file {path}: {where}: {first['msg']}") from None


def read_anchor_dir(directory: Path) -> list[tuple[Path, SignedCheckpoint]]:
    """Every checkpoint file (*.json) in an anchor directory, by name."""
    if not directory.is_dir():
        raise InvalidInput(f"checkpoint directory {directory} does not exist")
    return [(path, read_checkpoint(path)) for path in sorted(directory.glob("*.json"))]


def newest_anchor(directory: Path) -> tuple[Path, SignedCheckpoint] | None:
    """The newest file `write_anchor` wrote (its names sort by seq, then time), read alone."""
    names = sorted(directory.glob("checkpoint-*.json")) if directory.is_dir() else []
    return (names[-1], read_checkpoint(names[-1])) if names else None


def write_anchor(directory: Path, checkpoint: SignedCheckpoint) -> Path:
    """Write a checkpoint atomically as a new file named by seq and time; never replace one."""
    stamp = checkpoint.taken_at.replace("-", "").replace(":", "").replace(".", "")
    path = directory / f"checkpoint-{checkpoint.seq:012d}-{stamp}.json"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=directory, prefix=".checkpoint-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(checkpoint.model_dump_json() + "\n")
                out.flush()
                os.fsync(out.fileno())
            # A link appears complete or not at all, and fails rather than replace a file.
            os.link(temp, path)
        finally:
            os.unlink(temp)
        _sync_dir(directory)
    except FileExistsError:
        raise Conflict(f"anchor {path} already exists") from None
    except OSError as exc:
        raise InvalidInput(
            f"cannot write to anchor directory {directory}: {exc.strerror}"
        ) from None
    return path


def _sync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
