"""Writing an artifact as part of a registration, undone if the registration fails."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from governance.ml.artifacts import ArtifactStore, StoredArtifact, digest_bytes


@contextmanager
def staged_artifact(store: ArtifactStore, data: bytes | None) -> Iterator[StoredArtifact | None]:
    """Store `data` for the enclosed block; remove it again if the block fails and it was new.

    Writers are serialised by the registry's write lock, so a file that did not exist before
    this block cannot be referenced by anyone else when we remove it.
    """
    if data is None:
        yield None
        return
    existed = store.exists(digest_bytes(data))
    stored = store.put_bytes(data)
    try:
        yield stored
    except Exception:
        if not existed:
            store.path_for(stored.digest).unlink(missing_ok=True)
        raise
