"""The six symptom categories of the field checklist: one enum for the router, the causes,
the plan and the demo scenarios."""

from __future__ import annotations

import enum


class Category(enum.StrEnum):
    """The six symptom categories of the field checklist."""

    SLOW = "slow-inference"
    SPIKES = "latency-spikes"
    WRONG = "wrong-predictions"
    ACCURACY = "accuracy-drop"
    FAILURES = "intermittent-failures"
    MEMORY = "oom-memory"

    @property
    def label(self) -> str:
        return CATEGORY_TITLES[self]


CATEGORY_TITLES = {
    Category.SLOW: "slow inference",
    Category.SPIKES: "latency variance / spikes (p99 ≫ p50)",
    Category.WRONG: "wrong predictions",
    Category.ACCURACY: "accuracy drop",
    Category.FAILURES: "intermittent failures / 5xx",
    Category.MEMORY: "OOM / memory growth",
}
