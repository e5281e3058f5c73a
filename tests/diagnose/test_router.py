"""Symptom routing: a few words suffice; ambiguous words run speed and accuracy checks."""

from __future__ import annotations

import pytest

from infermedic.diagnose.router import AMBIGUOUS_CATEGORIES, Category, route


@pytest.mark.parametrize(
    ("symptom", "expected"),
    [
        ("p99 latency spikes since Tuesday", {Category.SPIKES}),
        ("predictions look wrong", {Category.WRONG}),
        ("5xx from /predict", {Category.FAILURES}),
        ("pods OOM", {Category.MEMORY}),
        ("memory grows until the pod is OOMKilled", {Category.MEMORY}),
        ("inference is slow", {Category.SLOW}),
        ("accuracy dropped after the holiday", {Category.ACCURACY}),
        ("intermittent 503 errors under load", {Category.FAILURES}),
        ("served model version differs between replicas", {Category.WRONG}),
    ],
)
def test_symptoms_route_to_their_category(symptom: str, expected: set[Category]) -> None:
    routed = route(symptom)
    assert set(routed.categories) == expected
    assert routed.reason  # the words that matched are said


@pytest.mark.parametrize("symptom", ["performance", "the model is bad", "something is off"])
def test_ambiguous_or_unknown_runs_speed_and_accuracy(symptom: str) -> None:
    routed = route(symptom)
    assert routed.categories == AMBIGUOUS_CATEGORIES
    assert "speed and the accuracy" in routed.reason


def test_no_symptom_runs_everything() -> None:
    assert route(None).categories == tuple(Category)
    assert route("   ").categories == tuple(Category)
