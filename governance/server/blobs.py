"""Uploads: files a command reads (cards, artifacts, datasets), addressed by their sha256.

A client streams the bytes to `PUT /v1/blobs/{sha256}`; the server hashes them as they
arrive, stops at the size limit, and keeps them only if they hash to the named digest. A
command then names the file by digest. The store is a directory the server processes
share, so a command may reach another process than its upload did.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path

from governance.domain.errors import InvalidInput
from governance.server.errors import UploadDigestMismatch, UploadTooLarge

_DIGEST = re.compile(r"^[0-9a-f]{64}$")
# An upload unused for this long is swept by the next upload.
STALE_SECONDS = 24 * 3600


def check_digest(digest: str) -> str:
    """A lower-case sha256 hex digest, or InvalidInput naming the value."""
    if not _DIGEST.fullmatch(digest or ""):
        raise InvalidInput(f"blob digest {digest!r} is not a sha256 hex digest (64 characters)")
    return digest


class BlobStore:
    """A directory of uploaded files named by their sha256."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes

    def path_of(self, digest: str) -> Path:
        """Where the blob with this digest lives (it may not exist)."""
        return self.root / check_digest(digest)

    def has(self, digest: str) -> bool:
        """True when the blob is stored."""
        return self.path_of(digest).is_file()

    async def receive(self, digest: str, chunks: AsyncIterator[bytes]) -> int:
        """Stream an upload to disk; keep it only if its bytes hash to `digest`. Returns size."""
        final = self.path_of(digest)
        self.root.mkdir(parents=True, exist_ok=True)
        partial = self.root / f".partial-{secrets.token_hex(8)}"
        sha, size = hashlib.sha256(), 0
        try:
            with partial.open("wb") as out:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise UploadTooLarge(
                            f"upload is over the limit of {self.max_bytes} bytes "
                            "(GOVERNANCE_SERVER_MAX_UPLOAD_BYTES)"
                        )
                    sha.update(chunk)
                    out.write(chunk)
            if sha.hexdigest() != digest:
                raise UploadDigestMismatch(
                    f"upload does not match its digest: the bytes hash to {sha.hexdigest()}, "
                    f"not {digest}"
                )
            os.replace(partial, final)
        finally:
            partial.unlink(missing_ok=True)
        self._sweep()
        return size

    def materialise(self, digest: str, directory: Path, name: str) -> Path:
        """Copy a stored blob into `directory` under its client-side file name."""
        source = self.path_of(digest)
        if not source.is_file():
            raise InvalidInput(f"no upload with digest {digest}: PUT it to /v1/blobs/{digest}")
        safe = Path(name).name or "upload"
        target = directory / safe
        shutil.copyfile(source, target)
        return target

    def _sweep(self) -> None:
        """Drop uploads nobody used for a day."""
        cutoff = time.time() - STALE_SECONDS
        for path in self.root.iterdir():
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink(missing_ok=True)
            except OSError:
                continue
