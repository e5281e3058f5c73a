"""From a symptom in the user's words to the categories of causes worth checking.

Routing is a keyword table, on purpose: the symptom vocabulary of on-call engineers is small
and stable ("p99", "slow", "OOM", "5xx", "wrong", "drift"), and a table is inspectable — the
report says which words matched which category, so a misrouting is visible and fixable.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass


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

# Word patterns (matched on word boundaries, case-insensitive) for each category.
KEYWORDS: dict[Category, tuple[str, ...]] = {
    Category.SLOW: (
        r"slow(er|ly|ness)?",
        r"latenc(y|ies)",
        r"takes? (too )?long",
        r"sluggish",
        r"throughput",
        r"timeouts?",
        r"timing out",
        r"hangs?",
        r"hanging",
        r"lag+(y|ing)?",
        r"p50",
        r"median",
        r"seconds",
        r"ms",
    ),
    Category.SPIKES: (
        r"spik(e|es|y|ing)",
        r"p9\d(\.\d+)?",
        r"tail",
        r"jitter",
        r"variance",
        r"variab\w*",
        r"sometimes slow",
        r"intermittent(ly)? slow",
        r"occasional(ly)?",
        r"stall(s|ing)?",
        r"burst\w*",
        r"unpredictable",
        r"percentiles?",
        r"cold start\w*",
        r"first requests?",
    ),
    Category.WRONG: (
        r"wrong",
        r"incorrect",
        r"bad predictions?",
        r"garbage",
        r"nonsense",
        r"weird",
        r"strange",
        r"skew(ed)?",
        r"inconsistent",
        r"different (results?|outputs?|answers?)",
        r"mismatch\w*",
        r"versions?",
        r"unexpected (output|prediction)s?",
        r"predictions? (look|are|seem) (off|wrong|odd)",
    ),
    Category.ACCURACY: (
        r"accuracy",
        r"drift(ed|ing)?",
        r"degrad\w*",
        r"auc",
        r"precision",
        r"recall",
        r"f1",
        r"worse",
        r"quality",
        r"performance dropped",
        r"distribution",
        r"shift(ed)?",
        r"stale",
        r"decay\w*",
    ),
    Category.FAILURES: (
        r"5\d\d",
        r"5xx",
        r"errors?",
        r"fail(s|ed|ing|ures?)?",
        r"crash(es|ed|ing)?",
        r"exceptions?",
        r"intermittent(ly)?",
        r"flak(y|iness)",
        r"refused",
        r"unavailable",
        r"broken",
        r"traceback",
        r"bad gateway",
        r"restarts?",
        r"crashloop\w*",
    ),
    Category.MEMORY: (
        r"oom(killed)?",
        r"out of memory",
        r"memory",
        r"rss",
        r"leak(s|ing|y)?",
        r"ram",
        r"heap",
        r"swap(ping)?",
        r"evicted",
        r"killed",
    ),
}

# Words that name no single category: run both the speed and the accuracy checks.
AMBIGUOUS = (
    r"performance",
    r"bad",
    r"broken model",
    r"not working",
    r"issues?",
    r"problems?",
    r"weird behaviou?r",
    r"help",
)
AMBIGUOUS_CATEGORIES = (Category.SLOW, Category.SPIKES, Category.ACCURACY, Category.WRONG)


@dataclass(frozen=True, kw_only=True)
class Route:
    """Where a symptom was routed, and why (the words that matched)."""

    symptom: str
    categories: tuple[Category, ...]
    matched: dict[Category, tuple[str, ...]]
    reason: str


def route(symptom: str | None) -> Route:
    """Route free text to categories. No symptom: every category. Unmatched or ambiguous
    text: the speed and accuracy categories, with the reason said."""
    text = (symptom or "").strip()
    if not text:
        return Route(
            symptom="",
            categories=tuple(Category),
            matched={},
            reason="no symptom given: every check the inputs allow",
        )
    lowered = text.lower()
    matched: dict[Category, tuple[str, ...]] = {}
    for category, patterns in KEYWORDS.items():
        words = _matches(lowered, patterns)
        if words:
            matched[category] = words
    # "p99 latency" is about spikes more than slowness: a percentile above p90 names the tail.
    if Category.SPIKES in matched and Category.SLOW in matched:
        slow_words = set(matched[Category.SLOW]) - {"latency", "latencies"}
        if not slow_words:
            del matched[Category.SLOW]
    # "memory errors" / "OOM errors" are memory, not generic failures
    memory_words = {"error", "errors", "killed", "crash", "crashes"}
    if Category.MEMORY in matched and set(matched.get(Category.FAILURES, ())) <= memory_words:
        matched.pop(Category.FAILURES, None)
    ambiguous = _matches(lowered, AMBIGUOUS)
    if matched:
        categories = tuple(c for c in Category if c in matched)
        reason = "; ".join(
            f"{c.label}: matched {', '.join(repr(w) for w in matched[c])}" for c in categories
        )
        return Route(symptom=text, categories=categories, matched=matched, reason=reason)
    why = (
        f"{', '.join(repr(w) for w in ambiguous)} names no single cause"
        if ambiguous
        else "no known symptom word matched"
    )
    return Route(
        symptom=text,
        categories=AMBIGUOUS_CATEGORIES,
        matched={},
        reason=f"{why}: running both the speed and the accuracy checks",
    )


def _matches(text: str, patterns: tuple[str, ...]) -> tuple[str, ...]:
    found: list[str] = []
    for pattern in patterns:
        for match in re.finditer(rf"(?<![\w.]){pattern}(?![\w])", text):
            if match.group(0) not in found:
                found.append(match.group(0))
    return tuple(found)
