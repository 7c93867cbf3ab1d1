"""`governance compliance pack`: one version's Annex IV documentation, built from the records.

The pack is written beside its destination, recorded in the trail (an event naming the
manifest's sha256), then renamed into place: a reader (or a crash) sees no pack or a whole
one, and every pack delivered is one the trail knows. The manifest is signed with the audit
signing key.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from governance.bootstrap import Governance
from governance.domain.annex_iv import ITEMS
from governance.domain.audit import format_ts
from governance.domain.compliance_pack import (
    Item,
    Manifest,
    PointScore,
    gap_count,
    manifest_item,
    score_points,
    sha256_hex,
)
from governance.domain.errors import Conflict
from governance.reports.compliance_pack import render_html, render_markdown, render_timeline
from governance.services.compliance.description_items import description_items
from governance.services.compliance.lifecycle import marks
from governance.services.compliance.log_slice import (
    LOG_FILE,
    check_slice,
    log_text,
    retention,
    slice_rows,
)
from governance.services.compliance.operation_items import operation_items
from governance.services.compliance.oversight_items import oversight_items
from governance.services.compliance.records import VersionRecords, read_records
from governance.signing import Signer

MANIFEST, SIGNATURE, PUBLIC_KEY, ITEMS_FILE = (
    "manifest.json",
    "manifest.sig",
    "signing-key.pub",
    "items.json",
)


@dataclass(frozen=True)
class BuiltPack:
    """A pack on disk: where, its manifest, and the seq of the event that records it."""

    directory: Path
    manifest: Manifest
    items: list[Item]
    event_seq: int

    @property
    def gaps(self) -> int:
        """How many Annex IV points are not covered."""
        return gap_count(self.manifest.points)


def build_items(records: VersionRecords) -> list[Item]:
    """Every Annex IV item for the version, in the Annex's order."""
    built = {
        item.id: item
        for item in (
            *description_items(records),
            *oversight_items(records),
            *operation_items(records),
        )
    }
    return [built[spec.id] for spec in ITEMS]


def gap_score(gov: Governance, name: str, version: str) -> list[PointScore]:
    """The nine points' coverage for a version, without writing a pack."""
    return score_points(build_items(read_records(gov, name, version)))


def build_pack(
    gov: Governance,
    name: str,
    version: str,
    out: Path,
    *,
    actor: str,
    now: datetime,
) -> BuiltPack:
    """Build, sign and write the pack to `out` (absent or empty), then record it in the trail."""
    _require_empty(out)
    signer = Signer(gov.settings.resolved_signing_key_file)
    with gov.store.write() as tx:
        tx.registry.get_version(name, version)
        # The pack cites the policy in force by its policy.loaded event: record it first if
        # the file changed since the trail last named it.
        tx.audit.record_context(now)
    records = read_records(gov, name, version)
    rows = slice_rows(records)
    log = check_slice(rows, records, gov.keyring)
    items = build_items(records)
    files = _documents(records, items, log_text(rows), signer)
    manifest = Manifest(
        model=name,
        version=version,
        risk_level=records.model.risk_level.value,
        built_at=format_ts(now),
        built_by=actor,
        chain_head_seq=records.chain_head_seq,
        chain_head_hash=records.chain_head_hash,
        policy_version=records.policy.version,
        points=score_points(items),
        items=[manifest_item(item) for item in items],
        retention=retention(records),
        log=log,
        files={file: sha256_hex(data) for file, data in sorted(files.items())},
        key_fingerprint=signer.verifier.fingerprint,
    )
    # The readable documents show the scores, so they are rendered from the manifest.
    files |= _readable(manifest, items, records)
    manifest = manifest.model_copy(
        update={"files": {file: sha256_hex(data) for file, data in sorted(files.items())}}
    )
    body = manifest.to_bytes()
    files |= {MANIFEST: body, SIGNATURE: (signer.sign_bytes(body) + "\n").encode()}
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        _write_files(staging, files)
        # Recorded before it is placed: a crash in between leaves a recorded pack that was
        # never delivered, never a delivered pack the trail does not know.
        seq = _record(gov, manifest, body, actor=actor, now=now)
        _place(staging, out)
    finally:
        # Gone already once renamed into place; otherwise a failed build leaves nothing.
        shutil.rmtree(staging, ignore_errors=True)
    return BuiltPack(directory=out, manifest=manifest, items=items, event_seq=seq)


def _documents(
    records: VersionRecords, items: list[Item], log: str, signer: Signer
) -> dict[str, bytes]:
    listed = [item.model_dump(mode="json") for item in items]
    text = json.dumps(listed, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    return {
        ITEMS_FILE: text.encode(),
        LOG_FILE: log.encode(),
        PUBLIC_KEY: signer.public_pem(),
    }


def _readable(manifest: Manifest, items: list[Item], records: VersionRecords) -> dict[str, bytes]:
    timeline = render_timeline(marks(records))
    return {
        "pack.md": render_markdown(manifest, items).encode(),
        "pack.html": render_html(manifest, items, timeline).encode(),
        "timeline.svg": timeline.encode(),
    }


def _require_empty(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise Conflict(f"{out} exists and is not an empty directory: a pack is never written over")


def _write_files(staging: Path, files: dict[str, bytes]) -> None:
    """Write every file of the pack into its staging directory beside the destination."""
    for file, data in files.items():
        (staging / file).write_bytes(data)
        os.chmod(staging / file, 0o644)
    os.chmod(staging, 0o755)


def _place(staging: Path, out: Path) -> None:
    """Rename the staged pack to `out`: a reader sees no pack or a whole one."""
    _require_empty(out)
    if out.exists():
        out.rmdir()
    staging.rename(out)


def _record(gov: Governance, manifest: Manifest, body: bytes, *, actor: str, now: datetime) -> int:
    with gov.store.write() as tx:
        event = tx.audit.append(
            "compliance.pack_built",
            actor=actor,
            now=now,
            model=manifest.model,
            version=manifest.version,
            details={
                "manifest_sha256": sha256_hex(body),
                "chain_head_seq": manifest.chain_head_seq,
                "coverage": {str(p.point): p.coverage for p in manifest.points},
                "gaps": gap_count(manifest.points),
                "key_fingerprint": manifest.key_fingerprint,
            },
        )
        return event.seq
