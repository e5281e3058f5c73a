"""A Monte Carlo band around each score: the features re-drawn within their measurement noise."""

from __future__ import annotations

import numpy as np
from sklearn.pipeline import Pipeline

from .churn import Customer, Prediction, customer_frame

DRAWS = 300_000
NOISE_SD = 0.15  # in standard deviations of each scaled feature


class PredictionWithBand(Prediction):
    """The score and the range it moves in when the inputs are a little off."""

    churn_probability_band: tuple[float, float]


class UncertaintyBand:
    """Scores `DRAWS` noisy copies of a customer with the fitted linear model (~50 ms)."""

    def __init__(self, model: Pipeline, seed: int = 0) -> None:
        self._features = model.named_steps["features"]
        classifier = model.named_steps["classifier"]
        self._weights = np.asarray(classifier.coef_, dtype=np.float64).ravel()
        self._intercept = float(classifier.intercept_[0])
        width = self._weights.shape[0]
        self._noise = np.random.default_rng(seed).normal(0.0, NOISE_SD, size=(DRAWS, width))

    def band(self, customer: Customer) -> tuple[float, float]:
        """The 5th and 95th percentile of the churn probability under feature noise."""
        row = np.asarray(self._features.transform(customer_frame([customer])), dtype=np.float64)
        logits = (self._noise + row) @ self._weights + self._intercept
        probabilities = 1.0 / (1.0 + np.exp(-logits))
        low, high = np.percentile(probabilities, [5.0, 95.0])
        return float(low), float(high)
