"""Writing an artifact as part of a registration, undone if the registration fails."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

from governance.ml.artifacts import ArtifactStore, StoredArtifact, digest_bytes


@contextmanager
def staged_artifact(store: ArtifactStore, data: bytes) -> Iterator[StoredArtifact]:
    """Store `data` durably for the enclosed block; remove it again if the block fails.

    Writers are serialised by the registry's write lock, so a file that did not exist
    before this block is referenced by nobody else when it is removed. (Writing in a
    background thread to overlap the fsyncs with the database work was measured slower:
    the writer waits for the GIL between its system calls.)
    """
    existed = store.exists(digest_bytes(data))
    stored = store.put_bytes(data)
    try:
        yield stored
    except Exception:
        if not existed:
            store.path_for(stored.digest).unlink(missing_ok=True)
        raise


def staged_if_any(
    store: ArtifactStore, data: bytes | None
) -> AbstractContextManager[StoredArtifact | None]:
    """`staged_artifact` for `data`, or a block that stores nothing when there is none."""
    return nullcontext() if data is None else staged_artifact(store, data)
