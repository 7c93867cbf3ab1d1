"""`governance compliance verify`: check a pack offline with the public key, naming any change.

No database and no secret key: the signature proves the manifest is the signer's, the
manifest's hashes pin every file and item, and the log slice's lines hash to their events.
Items and log lines are checked before the files' hashes, so a changed byte is named as
precisely as the pack allows: the item, the event, or else the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from governance.domain.audit import slice_hashes
from governance.domain.compliance_pack import Item, Manifest, sha256_hex
from governance.domain.errors import InvalidInput, PackTampered
from governance.services.compliance.log_slice import LOG_FILE
from governance.services.compliance.packs import ITEMS_FILE, MANIFEST, PUBLIC_KEY, SIGNATURE
from governance.signing import Verifier


@dataclass(frozen=True)
class VerifiedPack:
    """What a verification checked and found intact."""

    manifest: Manifest
    key: Path
    key_from_pack: bool
    files: int
    items: int
    events: int


def verify_pack(directory: Path, public_key: Path | None = None) -> VerifiedPack:
    """Check signature, items, log slice and files; PackTampered names any change."""
    if not directory.is_dir():
        raise InvalidInput(f"{directory} is not a pack directory")
    body = _read(directory, MANIFEST)
    key = public_key or directory / PUBLIC_KEY
    verifier = Verifier.from_file(key)
    verifier.check_bytes(body, _read(directory, SIGNATURE).decode("ascii", "replace"), MANIFEST)
    manifest = _manifest(body)
    if manifest.key_fingerprint != verifier.fingerprint:
        raise PackTampered(
            f"{MANIFEST} names key {manifest.key_fingerprint[:16]} but {key} is key "
            f"{verifier.fingerprint[:16]}"
        )
    _check_items(directory, manifest)
    events = _check_log(directory, manifest)
    _check_files(directory, manifest)
    return VerifiedPack(
        manifest=manifest,
        key=key,
        key_from_pack=public_key is None,
        files=len(manifest.files),
        items=len(manifest.items),
        events=events,
    )


def _read(directory: Path, name: str) -> bytes:
    try:
        return (directory / name).read_bytes()
    except FileNotFoundError:
        raise PackTampered(f"{name} is missing from the pack {directory}") from None
    except OSError as exc:
        raise InvalidInput(f"{directory / name} is unreadable: {exc.strerror}") from None


def _manifest(body: bytes) -> Manifest:
    try:
        return Manifest.model_validate_json(body)
    except ValidationError:
        raise PackTampered(f"{MANIFEST} is signed but is not a pack manifest") from None


def _check_items(directory: Path, manifest: Manifest) -> None:
    try:
        listed = json.loads(_read(directory, ITEMS_FILE))
        items = [Item.model_validate(entry) for entry in listed]
    except (ValueError, ValidationError, TypeError):
        raise PackTampered(f"{ITEMS_FILE} no longer parses as the pack's items") from None
    expected = {entry.id: entry.sha256 for entry in manifest.items}
    if [item.id for item in items] != list(expected):
        raise PackTampered(f"{ITEMS_FILE} does not hold the items the manifest lists, in order")
    for item in items:
        if item.content_hash() != expected[item.id]:
            raise PackTampered(
                f"item {item.id} in {ITEMS_FILE} was changed: its sha256 is "
                f"{item.content_hash()[:16]}, the signed manifest says {expected[item.id][:16]}"
            )


def _check_log(directory: Path, manifest: Manifest) -> int:
    text = _read(directory, LOG_FILE).decode("utf-8", "replace")
    try:
        hashes = slice_hashes(text.splitlines())
    except ValueError as exc:
        raise PackTampered(f"{LOG_FILE} {exc}") from None
    for entry in manifest.items:
        for source in entry.sources:
            if source.kind == "event" and hashes.get(source.seq) != source.digest:
                raise PackTampered(
                    f"item {entry.id} cites event {source.seq}, which {LOG_FILE} does not hold "
                    "with the cited hash"
                )
    return len(hashes)


def _check_files(directory: Path, manifest: Manifest) -> None:
    for name, digest in manifest.files.items():
        if sha256_hex(_read(directory, name)) != digest:
            raise PackTampered(
                f"{name} was changed: its sha256 differs from the one the signed manifest lists"
            )
    extra = sorted(
        p.name for p in directory.iterdir() if p.name not in {*manifest.files, MANIFEST, SIGNATURE}
    )
    if extra:
        raise PackTampered(f"{', '.join(extra)}: not part of the signed pack")
