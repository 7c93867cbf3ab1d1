"""Loaded models per (model, version): digest-checked skops loads, kept for the process's life.

A registered version's artifact never changes, so a loaded estimator never goes stale. The
digest that loads is the one the audit chain registered: a row whose facts disagree with its
MAC-verified `model.version_registered` event is refused (RegistrationMismatch, a 503).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from governance.bootstrap import Governance
from governance.domain.errors import ArtifactError
from governance.services.registry.registered_facts import check_registered_in


@dataclass(frozen=True)
class LoadedModel:
    """One version's estimator and the feature columns it takes, in order."""

    model: str
    version: str
    estimator: Any
    features: tuple[str, ...]
    # Fitted on a named frame: predict on a DataFrame so column names are checked too.
    named: bool

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        """The estimator's predictions for rows of features in `features` order."""
        x = pd.DataFrame(matrix, columns=list(self.features)) if self.named else matrix
        return np.asarray(self.estimator.predict(x))

    @property
    def output_dtype(self) -> np.dtype:
        """What `predict` returns: the class labels' dtype, or float for a regressor."""
        classes = getattr(self.estimator, "classes_", None)
        return np.asarray(classes).dtype if classes is not None else np.dtype("float64")


def feature_names(estimator: Any) -> tuple[tuple[str, ...], bool]:
    """The estimator's feature names and whether they came from training (else f0, f1, ...)."""
    names = getattr(estimator, "feature_names_in_", None)
    if names is not None:
        return tuple(str(n) for n in names), True
    count = getattr(estimator, "n_features_in_", None)
    if count is None:
        raise ArtifactError(f"{type(estimator).__name__} does not say how many features it takes")
    return tuple(f"f{i}" for i in range(int(count))), False


class ModelCache:
    """Loads each (model, version) once through the artifact store and keeps it."""

    def __init__(self, gov: Governance) -> None:
        self.gov = gov
        self._loaded: dict[tuple[str, str], LoadedModel] = {}
        self._lock = threading.Lock()

    def get(self, model: str, version: str) -> LoadedModel:
        """The loaded version, loading it on first use (ArtifactError if it cannot be)."""
        found = self._loaded.get((model, version))
        return found if found is not None else self._load(model, version)

    def cached(self, model: str, version: str) -> LoadedModel | None:
        """The version if it is loaded already, without loading it."""
        return self._loaded.get((model, version))

    def _load(self, model: str, version: str) -> LoadedModel:
        # One lock: loads are rare (a routing change), and two threads must not both load.
        with self._lock:
            found = self._loaded.get((model, version))
            if found is not None:
                return found
            with self.gov.store.read() as tx:
                registered = tx.registry.get_version(model, version)
                # The key is Settings.resolved_secret_key_file, through the store's keyring.
                check_registered_in(tx, registered)
            if not registered.artifact_digest:
                raise ArtifactError(f"{registered.ref} has no model artifact to serve")
            estimator = self.gov.artifacts.load_estimator(registered.artifact_digest)
            names, named = feature_names(estimator)
            loaded = LoadedModel(model, version, estimator, names, named)
            self._loaded[(model, version)] = loaded
            return loaded
