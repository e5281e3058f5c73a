"""Per-feature attributions for one prediction, by permutation against a background sample."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import pairwise_distances_argmin

from .churn import FEATURES, NUMERIC_FEATURES


class PermutationExplainer:
    """Attributes a score to features, in the manner of `shap.PermutationExplainer`.

    Building it summarises `data` into `n_background` representative customers with k-means
    (as `shap.kmeans` does) and scores them for the baseline; explaining a row re-scores that
    background with each feature in turn set to the row's value.
    """

    def __init__(
        self,
        predict: Callable[[pd.DataFrame], np.ndarray],
        data: pd.DataFrame,
        n_background: int = 25,
        seed: int = 0,
    ) -> None:
        self._predict = predict
        numeric = data[list(NUMERIC_FEATURES)].to_numpy(dtype=np.float64)
        scaled = (numeric - numeric.mean(axis=0)) / numeric.std(axis=0)
        centres = KMeans(n_clusters=n_background, n_init=3, random_state=seed).fit(scaled)
        nearest = pairwise_distances_argmin(centres.cluster_centers_, scaled)
        self._background = data.iloc[nearest][list(FEATURES)].reset_index(drop=True)
        self.expected_value = float(np.mean(self._score(self._background)))

    def explain(self, row: pd.DataFrame) -> dict[str, float]:
        """How much each feature's value moves the average score away from the baseline."""
        attributions = {}
        for feature in FEATURES:
            probe = self._background.copy()
            probe[feature] = row[feature].iloc[0]
            attributions[feature] = float(np.mean(self._score(probe))) - self.expected_value
        return attributions

    def _score(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(self._predict(frame))[:, 1]
