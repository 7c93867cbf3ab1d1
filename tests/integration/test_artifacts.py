"""The artifact store: write-once sha256 files, digest checks, skops allow-list loading."""

from __future__ import annotations

import hashlib
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.tree import DecisionTreeClassifier

from governance.domain.errors import (
    ArtifactMissing,
    DigestMismatch,
    InvalidInput,
    UntrustedArtifact,
)
from governance.ml.artifacts import (
    ArtifactStore,
    check_model_bytes,
    digest_bytes,
    is_trusted,
)


class MajorityClassifier(ClassifierMixin, BaseEstimator):
    """A tiny estimator that skops does not trust: it predicts the most common label."""

    def fit(self, X, y):
        values, counts = np.unique(y, return_counts=True)
        self.majority_ = values[np.argmax(counts)]
        self.classes_ = values
        return self

    def predict(self, X):
        return np.full(len(X), self.majority_)


CUSTOM_TYPE = f"{MajorityClassifier.__module__}.MajorityClassifier"


def files_under(root: Path) -> dict[str, bytes]:
    """Every file in the store with its bytes, so a test can see that nothing changed."""
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(tmp_path / "artifacts")


@pytest.fixture
def iris():
    return load_iris(return_X_y=True)


def test_logistic_regression_round_trips(store, iris):
    X, y = iris
    model = LogisticRegression(max_iter=500).fit(X, y)

    stored = store.put_estimator(model)

    path = store.path_for(stored.digest)
    assert path == store.root / "sha256" / stored.digest[:2] / stored.digest
    assert stored.uri == f"sha256/{stored.digest[:2]}/{stored.digest}"
    assert stored.size == path.stat().st_size
    assert hashlib.sha256(path.read_bytes()).hexdigest() == stored.digest
    loaded = store.load_estimator(stored.digest)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert store.verify(stored.digest) == "sklearn.linear_model._logistic.LogisticRegression"


def test_pipeline_round_trips_through_a_model_file(store, tmp_path):
    X, y = load_breast_cancer(return_X_y=True)
    model = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())]).fit(X, y)
    model_file = tmp_path / "model.skops"
    sio.dump(model, model_file)

    stored = store.put_model_file(model_file)

    assert stored.digest == digest_bytes(model_file.read_bytes())
    loaded = store.load_estimator(stored.digest)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert store.verify(stored.digest) == "sklearn.pipeline.Pipeline"


def test_reviewed_helper_types_load_without_extra_trust(store, iris):
    # the fitted SimpleImputer stores a numpy.dtype, which skops alone does not trust
    X, y = iris
    model = Pipeline(
        [
            ("cols", ColumnTransformer([("impute", SimpleImputer(), [0, 1, 2, 3])])),
            ("clf", LogisticRegression(max_iter=500)),
        ]
    ).fit(X, y)
    assert "numpy.dtype" in sio.get_untrusted_types(data=sio.dumps(model))

    loaded = store.load_estimator(store.put_estimator(model).digest)

    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_same_bytes_are_written_once(store):
    first = store.put_bytes(b"reference sample")
    path = store.path_for(first.digest)
    before = path.stat()

    second = store.put_bytes(b"reference sample")

    assert second == first
    after = path.stat()
    assert (after.st_mtime_ns, after.st_ino) == (before.st_mtime_ns, before.st_ino)
    assert [p.name for p in path.parent.iterdir()] == [first.digest]  # no temp file left


def test_put_file_stores_the_file_bytes(store, tmp_path):
    source = tmp_path / "reference.parquet"
    source.write_bytes(b"PAR1 not really parquet")

    stored = store.put_file(source)

    assert store.exists(stored.digest)
    assert store.read_verified(stored.digest) == source.read_bytes()


def test_flipped_byte_is_a_digest_mismatch(store, iris):
    X, y = iris
    stored = store.put_estimator(LogisticRegression(max_iter=500).fit(X, y))
    path = store.path_for(stored.digest)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.chmod(0o644)
    path.write_bytes(bytes(data))

    with pytest.raises(DigestMismatch) as caught:
        store.load_estimator(stored.digest)

    message = str(caught.value)
    assert stored.digest in message
    assert digest_bytes(bytes(data)) in message
    assert str(path) in message
    with pytest.raises(DigestMismatch):
        store.verify(stored.digest)


def test_swapped_in_valid_model_is_refused_before_loading(store, iris):
    # the replacement would load fine, so only the digest check stops it
    X, y = iris
    stored = store.put_estimator(LogisticRegression(max_iter=500).fit(X, y))
    path = store.path_for(stored.digest)
    path.chmod(0o644)
    path.write_bytes(sio.dumps(LogisticRegression(C=0.01, max_iter=500).fit(X, y)))

    with pytest.raises(DigestMismatch):
        store.load_estimator(stored.digest)


def test_storing_over_a_tampered_copy_is_refused(store):
    stored = store.put_bytes(b"original")
    path = store.path_for(stored.digest)
    path.chmod(0o644)
    path.write_bytes(b"tampered")

    with pytest.raises(DigestMismatch):
        store.put_bytes(b"original")
    assert path.read_bytes() == b"tampered"


def test_pickle_file_is_refused_and_not_stored(store, tmp_path, iris):
    X, y = iris
    model_file = tmp_path / "model.pkl"
    model_file.write_bytes(pickle.dumps(LogisticRegression(max_iter=500).fit(X, y)))

    with pytest.raises(UntrustedArtifact, match="pickle") as caught:
        store.put_model_file(model_file)

    assert "skops" in str(caught.value)
    assert files_under(store.root) == {}


@pytest.mark.parametrize("data", [b"", b"hello, not a model", pickle.dumps([1, 2], protocol=0)])
def test_other_non_skops_bytes_are_refused(data):
    with pytest.raises(UntrustedArtifact, match="not a skops file"):
        check_model_bytes(data)


def test_untrusted_custom_class_is_refused_and_store_unchanged(store, tmp_path, iris):
    X, y = iris
    store.put_bytes(b"already here")
    before = files_under(store.root)
    model_file = tmp_path / "custom.skops"
    sio.dump(MajorityClassifier().fit(X, y), model_file)

    with pytest.raises(UntrustedArtifact, match=re.escape(CUSTOM_TYPE)):
        store.put_model_file(model_file)
    with pytest.raises(UntrustedArtifact, match=re.escape(CUSTOM_TYPE)):
        store.put_estimator(MajorityClassifier().fit(X, y))

    assert files_under(store.root) == before


def test_untrusted_types_in_the_store_are_not_loaded(tmp_path, iris):
    # a store that trusted the class wrote it; a stricter store must still refuse it
    X, y = iris
    root = tmp_path / "artifacts"
    stored = ArtifactStore(root, trusted_types=[CUSTOM_TYPE]).put_estimator(
        MajorityClassifier().fit(X, y)
    )

    with pytest.raises(UntrustedArtifact, match=re.escape(CUSTOM_TYPE)):
        ArtifactStore(root).load_estimator(stored.digest)


def test_extra_trusted_type_lets_the_custom_class_load(tmp_path, iris):
    X, y = iris
    store = ArtifactStore(tmp_path / "artifacts", trusted_types=[CUSTOM_TYPE])
    model_file = tmp_path / "custom.skops"
    sio.dump(MajorityClassifier().fit(X, y), model_file)

    stored = store.put_model_file(model_file)

    loaded = store.load_estimator(stored.digest)
    assert isinstance(loaded, MajorityClassifier)
    np.testing.assert_array_equal(loaded.predict(X), np.full(len(X), 0))
    assert store.verify(stored.digest) == CUSTOM_TYPE


def test_tree_storage_needs_explicit_trust(tmp_path, iris):
    # skops flags tree node storage as unsafe for crafted files; we do not widen that
    X, y = iris
    model = DecisionTreeClassifier(random_state=0).fit(X, y)
    tree_type = "sklearn.tree._tree.Tree"

    with pytest.raises(UntrustedArtifact, match=re.escape(tree_type)):
        ArtifactStore(tmp_path / "strict").put_estimator(model)

    store = ArtifactStore(tmp_path / "trusting", trusted_types=[tree_type])
    loaded = store.load_estimator(store.put_estimator(model).digest)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_functions_in_sklearn_or_numpy_are_not_trusted(store):
    # a trusted numpy.save would let a crafted transformer write files when used
    transformer = FunctionTransformer(np.save)

    with pytest.raises(UntrustedArtifact, match=re.escape("numpy.save")):
        store.put_estimator(transformer)
    assert not is_trusted("numpy.save", ())
    assert is_trusted("numpy.save", ["numpy.save"])
    assert files_under(store.root) == {}


def test_missing_digest_is_artifact_missing(store):
    digest = digest_bytes(b"never stored")

    assert not store.exists(digest)
    with pytest.raises(ArtifactMissing, match=digest):
        store.read_verified(digest)
    with pytest.raises(ArtifactMissing, match=digest):
        store.load_estimator(digest)


@pytest.mark.parametrize("digest", ["", "abc", "../" * 21 + "a", "A" * 64, "g" * 64])
def test_malformed_digest_is_invalid_input(store, digest):
    with pytest.raises(InvalidInput, match="invalid sha256 digest"):
        store.path_for(digest)


def test_unreadable_input_file_is_invalid_input(store, tmp_path):
    with pytest.raises(InvalidInput, match=re.escape("missing.skops")):
        store.put_model_file(tmp_path / "missing.skops")
    assert files_under(store.root) == {}
