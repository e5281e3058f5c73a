"""Models with planted costs for the profile tests; importable, because pickles name classes."""

from __future__ import annotations

import math
import os
import time
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression


def slow_rows(X: Any) -> np.ndarray:
    """A preprocessing step doing per-row, per-value Python work (the planted PROF002)."""
    values = np.asarray(X, dtype=float)
    out = np.empty_like(values)
    for i, row in enumerate(values):
        out[i] = [sum(math.sin(v * k) for k in range(20)) / 20 for v in row]
    return out


class _Wrapped(ClassifierMixin, BaseEstimator):
    def fit(self, X: Any, y: Any) -> _Wrapped:
        self.inner_ = LogisticRegression().fit(X, y)
        self.classes_ = self.inner_.classes_
        self.n_features_in_ = self.inner_.n_features_in_
        return self

    def predict(self, X: Any) -> Any:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


class LeakyClassifier(_Wrapped):
    """Keeps copies of every input it sees (the planted PROF005)."""

    def fit(self, X: Any, y: Any) -> LeakyClassifier:
        super().fit(X, y)
        self.history_: list[np.ndarray] = []
        return self

    def predict_proba(self, X: Any) -> Any:
        # ~130 KB a call at batch 64: well past the 1 MiB threshold within the few dozen calls
        # a busy host leaves the memory phase time for
        self.history_.append(np.repeat(np.asarray(X, dtype=float), 32, axis=0))
        return self.inner_.predict_proba(X)


class NoisyClassifier(_Wrapped):
    """Adds unseeded noise at predict time (the planted PROF008)."""

    def predict_proba(self, X: Any) -> Any:
        proba = self.inner_.predict_proba(X)
        return proba + np.random.default_rng().normal(0.0, 1e-3, proba.shape)


class RaisingClassifier(_Wrapped):
    def predict_proba(self, X: Any) -> Any:
        raise RuntimeError("feature store unavailable")


class DyingClassifier(_Wrapped):
    """The process ends inside predict, as a crashing native library would end it."""

    def predict_proba(self, X: Any) -> Any:
        os._exit(3)


class HangingClassifier(_Wrapped):
    def predict_proba(self, X: Any) -> Any:
        time.sleep(3600)
        raise AssertionError("unreachable")


class MemoryHogClassifier(_Wrapped):
    def predict_proba(self, X: Any) -> Any:
        buffer = np.ones(1 << 35, dtype=np.uint8)  # 32 GiB
        return buffer[: len(X)]


def score_rows(X: Any) -> np.ndarray:
    """A plain callable model for MODULE:ATTR."""
    values = np.asarray(X, dtype=float)
    return 1.0 / (1.0 + np.exp(-values.sum(axis=1)))


score_rows.n_features_in_ = 4  # type: ignore[attr-defined]


def _trained_logistic() -> LogisticRegression:
    rng = np.random.default_rng(7)
    X = rng.standard_normal((400, 6))
    return LogisticRegression().fit(X, (X[:, 0] + X[:, 1] > 0).astype(int))


_LOGISTIC = _trained_logistic()


def python_features(X: Any) -> np.ndarray:
    """Per-value Python feature engineering: the stage that should dominate."""
    return slow_rows(X)


def predict_with_python_features(X: Any) -> np.ndarray:
    """A plain callable service model: Python feature code, then a scikit-learn model."""
    features = python_features(X)
    return np.asarray(_LOGISTIC.predict_proba(features))


predict_with_python_features.n_features_in_ = 6  # type: ignore[attr-defined]


class BigForestScorer:
    """A custom object whose time goes into the model itself: no stage to flag."""

    def __init__(self) -> None:
        from sklearn.ensemble import RandomForestClassifier

        rng = np.random.default_rng(3)
        X = rng.standard_normal((600, 6))
        self.forest = RandomForestClassifier(n_estimators=60, n_jobs=1, random_state=0)
        self.forest.fit(X, (X[:, 0] > 0).astype(int))
        self.n_features_in_ = 6

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(self.forest.predict_proba(np.asarray(X, dtype=float)))


BIG_FOREST = BigForestScorer()
