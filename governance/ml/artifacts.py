"""Content-addressed artifact store: sha256-named, write-once files and skops safe loading.

Layout under the root: ``sha256/ab/abcdef...`` (the full hex digest, sharded by its
first two characters). A file is written once and never overwritten. Models are
loaded only after their bytes hash to the registered digest, and only through
skops with an allow-list of types; a pickle is never loaded.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from governance.domain.errors import (
    ArtifactError,
    ArtifactMissing,
    DigestMismatch,
    InvalidInput,
    UntrustedArtifact,
)


def _skops():
    """skops.io, imported on first use: it costs seconds, and most processes never load a model."""
    import skops.io

    return skops.io


_DIGEST = re.compile(r"^[0-9a-f]{64}$")
_ALGORITHM = "sha256"

# Types skops does not trust by default but that we reviewed and trust: plain data
# holders seen in common fitted models (ColumnTransformer, CalibratedClassifierCV,
# MLP*, GridSearchCV), whose constructors and state have no side effects.
# Deliberately absent, so only an explicit `trusted_types` admits them:
# - tree node storage (sklearn.tree._tree.Tree, HistGradientBoosting TreePredictor,
#   KDTree/BallTree): raw node indices that sklearn reads without bounds checks, so a
#   crafted file can crash the process at predict time (see skops.io.exceptions);
# - any function: a trusted function can be called later, e.g. numpy.save inside a
#   FunctionTransformer writes files. This is why a "sklearn.*"/"numpy.*" prefix rule
#   is not used: those namespaces hold such functions and classes like numpy.memmap.
REVIEWED_TYPES: frozenset[str] = frozenset(
    {
        "numpy.dtype",
        "sklearn.calibration._CalibratedClassifier",
        "sklearn.calibration._SigmoidCalibration",
        "sklearn.metrics._scorer._PassthroughScorer",
        "sklearn.model_selection._split.KFold",
        "sklearn.model_selection._split.StratifiedKFold",
        "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
        "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
    }
)


@dataclass(frozen=True)
class StoredArtifact:
    """Where an artifact sits in the store: its digest, relative uri and size in bytes."""

    digest: str
    uri: str
    size: int


def digest_bytes(data: bytes) -> str:
    """Hex sha256 of the bytes."""
    return hashlib.sha256(data).hexdigest()


def is_trusted(type_name: str, extra: Iterable[str] = ()) -> bool:
    """Whether a type skops does not trust by default may be loaded.

    skops already trusts its defaults (sklearn estimators, numpy/scipy data types and
    ufuncs, builtins), so only names outside them reach this policy: a reviewed
    built-in set, plus names the operator explicitly trusts.
    """
    return type_name in REVIEWED_TYPES or type_name in frozenset(extra)


def skops_types(data: bytes) -> list[str]:
    """Sorted types in a skops file outside skops's defaults; UntrustedArtifact if not skops."""
    if data[:1] == b"\x80":
        raise UntrustedArtifact(
            "not a skops file: it looks like a pickle, and pickles are never loaded; "
            "save the model with skops.io.dump"
        )
    if not data:
        raise UntrustedArtifact("not a skops file: it is empty")
    try:
        return _skops().get_untrusted_types(data=data)
    # Parsing hostile input: any failure at all means "not a valid skops file".
    except Exception as exc:
        raise UntrustedArtifact(
            f"not a skops file ({type(exc).__name__}: {exc}); pickles are never loaded"
        ) from exc


def check_model_bytes(data: bytes, extra: Iterable[str] = ()) -> None:
    """Raise UntrustedArtifact unless the bytes are a skops file of trusted types only."""
    _trusted_present(data, extra)


def _trusted_present(data: bytes, extra: Iterable[str]) -> list[str]:
    """The non-default types in a skops file, refusing it if any is not trusted."""
    present = skops_types(data)
    extra = frozenset(extra)
    refused = [name for name in present if not is_trusted(name, extra)]
    if refused:
        raise UntrustedArtifact(
            f"artifact holds untrusted types: {', '.join(refused)}; "
            "review them and pass them as trusted_types to allow them"
        )
    return present


def _write_once(path: Path, data: bytes) -> None:
    """Durably create `path` holding `data`; an existing file is never replaced."""
    new_shard = not path.parent.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o444)
        # link, not replace: it fails if another writer got there first, so a
        # stored file is never clobbered even under a race.
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        os.unlink(tmp)
    _fsync_dir(path.parent)
    if new_shard:
        # a new shard directory's own entry must reach the disk too
        _fsync_dir(path.parent.parent)


def _fsync_dir(directory: Path) -> None:
    """Make a new directory entry durable (the registry relies on it after a crash)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ArtifactStore:
    """Write-once, content-addressed files under `root`, loaded only through skops."""

    def __init__(self, root: Path | str, trusted_types: Sequence[str] = ()) -> None:
        self.root = Path(root)
        self.trusted_types = frozenset(trusted_types)

    def uri_for(self, digest: str) -> str:
        """Relative uri of a digest's file, e.g. ``sha256/ab/ab12...``."""
        _check_digest(digest)
        return f"{_ALGORITHM}/{digest[:2]}/{digest}"

    def path_for(self, digest: str) -> Path:
        """Absolute path where the file for `digest` lives (or would live)."""
        return self.root / self.uri_for(digest)

    def exists(self, digest: str) -> bool:
        """Whether the store holds a file for `digest` (its content is not checked)."""
        return self.path_for(digest).is_file()

    def put_bytes(self, data: bytes) -> StoredArtifact:
        """Store bytes under their digest; storing the same bytes again changes nothing."""
        digest = digest_bytes(data)
        path = self.path_for(digest)
        if path.exists():
            # refuse to hand out a digest whose stored copy has gone bad
            self.read_verified(digest)
        else:
            _write_once(path, data)
        return StoredArtifact(digest=digest, uri=self.uri_for(digest), size=len(data))

    def put_file(self, path: Path | str) -> StoredArtifact:
        """Store a file's bytes."""
        return self.put_bytes(_read_input(path))

    def put_model_file(self, path: Path | str) -> StoredArtifact:
        """Store a skops model file after checking it holds only trusted types."""
        data = _read_input(path)
        check_model_bytes(data, self.trusted_types)
        return self.put_bytes(data)

    def put_estimator(self, estimator: Any) -> StoredArtifact:
        """Serialise an estimator with skops, check it would load, and store it."""
        try:
            data = _skops().dumps(estimator)
        except TypeError as exc:
            raise InvalidInput(f"cannot save {type(estimator).__name__} with skops: {exc}") from exc
        check_model_bytes(data, self.trusted_types)
        return self.put_bytes(data)

    def read_verified(self, digest: str) -> bytes:
        """The stored bytes, after checking they still hash to `digest`."""
        path = self.path_for(digest)
        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise ArtifactMissing(
                f"no artifact {digest} in the store (expected at {path})"
            ) from exc
        actual = digest_bytes(data)
        if actual != digest:
            raise DigestMismatch(
                f"artifact at {path} changed: expected sha256 {digest}, found {actual}"
            )
        return data

    def load_estimator(self, digest: str) -> Any:
        """Load a model: digest check first, then the allow-list, then skops; never pickle."""
        data = self.read_verified(digest)
        # pass exactly the trusted names present, so skops audits everything else
        present = _trusted_present(data, self.trusted_types)
        try:
            return _skops().loads(data, trusted=present)
        # the bytes passed the audit, so a failure here is a corrupt or hostile file
        except Exception as exc:
            raise ArtifactError(f"artifact {digest} could not be loaded: {exc}") from exc

    def verify(self, digest: str) -> str:
        """Check the digest and that the model loads; return its qualified type name."""
        obj = self.load_estimator(digest)
        return f"{type(obj).__module__}.{type(obj).__qualname__}"


def _check_digest(digest: str) -> None:
    """Refuse anything but 64 lower-case hex characters (it also keeps paths inside root)."""
    if not isinstance(digest, str) or not _DIGEST.match(digest):
        raise InvalidInput(
            f"invalid sha256 digest {digest!r}: expected 64 lower-case hex characters"
        )


def _read_input(path: Path | str) -> bytes:
    """Read a user-supplied file, naming it if it cannot be read."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read artifact file {path}: {exc.strerror or exc}") from exc
