"""Scoring helpers shared by the routes."""

from __future__ import annotations

from sklearn.pipeline import Pipeline

from .churn import Customer, churn_probability, customer_frame


def score_customer(model: Pipeline, customer: Customer) -> float:
    """The churn probability of one customer."""
    return churn_probability(model, customer_frame([customer]))[0]
