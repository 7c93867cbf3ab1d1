"""Writing an artifact as part of a registration, undone if the registration fails."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from governance.ml.artifacts import ArtifactStore, StoredArtifact, digest_bytes

# One writer thread: the file's fsyncs release the GIL, so they overlap the database work.
_WRITER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="artifact-writer")


@contextmanager
def staged_artifact(store: ArtifactStore, data: bytes | None) -> Iterator[StoredArtifact | None]:
    """Write `data` durably while the enclosed block runs; remove it if the block fails.

    The block gets the artifact's address at once (it is content-addressed), and leaves
    only after the file is on disk, so the enclosing transaction never commits a version
    whose artifact could be lost. Writers are serialised by the registry's write lock, so
    a file that did not exist before this block is referenced by nobody else when removed.
    """
    if data is None:
        yield None
        return
    digest = digest_bytes(data)
    existed = store.exists(digest)
    writing = _WRITER.submit(store.put_bytes, data)
    try:
        yield StoredArtifact(digest=digest, uri=store.uri_for(digest), size=len(data))
        writing.result()
    except Exception:
        writing.exception()  # wait: never remove a file while it is being written
        if not existed:
            store.path_for(digest).unlink(missing_ok=True)
        raise
