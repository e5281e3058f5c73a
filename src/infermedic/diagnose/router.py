"""From a symptom in the user's words to the categories of causes worth checking.

Routing is a table of phrase patterns, on purpose: the symptom vocabulary of on-call
engineers is small and stable ("p99", "slow", "OOMKilled", "504s", "wrong class", "drift"),
and a table is inspectable: the report says which words matched which category, so a
misrouting is visible and fixable. No model, no network.

How a text is read:
1. Normalised: lowercase, straight quotes, common typos ("latancy", "memmory") and
   glued words ("ReadTimeout", "coldstart") fixed.
2. Split into clauses (at punctuation and at "and"/"but"/"while"), because a modifier such as
   "sometimes" or "first requests" or a negation such as "no errors" reaches only its clause.
3. Each pattern of the table is looked for, most specific first; a span of text is claimed by
   the first pattern that matches it ("10x the median" is a spike, not a median).
4. Per clause: a negated match is ignored ("memory looks flat", "no 5xx"); a slowness under an
   intermittency modifier is a latency spike ("sometimes slow", "first request takes 30 s");
   a generic speed word ("latency", "400ms") gives way to a tail word ("p99 latency"); a
   generic quality word ("worse") gives way to any named symptom ("latency got worse").
5. A crash, restart or kill that memory words explain ("OOM errors", "restarts once memory
   is full") is memory, not a generic failure.

Categories come in two kinds: `stated`, named by the user's words, and implied, added because
the words fit more than one ("the pod keeps getting killed": memory stated, a liveness kill
implied) or because a stated change explains another ("far more customers flagged": wrong
predictions stated, an accuracy drop implied).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from infermedic.diagnose.categories import CATEGORY_TITLES, Category
from infermedic.diagnose.phrases import (
    AMBIGUOUS,
    AMBIGUOUS_CATEGORIES,
    SIGNALS,
    TYPOS,
    Role,
    Signal,
)

__all__ = [
    "AMBIGUOUS_CATEGORIES",
    "CATEGORY_TITLES",
    "Category",
    "Hit",
    "Route",
    "normalise",
    "route",
]


_NEGATORS = frozenset(
    {"no", "not", "never", "without", "zero", "none", "nothing", "nobody", "isn't", "aren't"}
)
_FINE_AFTER = re.compile(
    r"^\W*(?:\w+\W+){0,2}?(?:is|are|was|were|looks?|seems?|stays?|remains?|still)?\W*"
    r"(?:fine|ok|okay|normal|flat|stable|good|healthy|unchanged|as expected|constant)\b"
    # "fine for small payloads" is a condition, not a denial: the symptom holds elsewhere
    r"(?!\s+(?:for|with|on|in|when|until|at|offline|locally|during|if|unless)\b)"
)
_CLAUSE_BREAK = re.compile(r"[.;:!?,()\[\]]+(?:\s|$)|\s(?:and|but|while|though|although|yet)\s")


@dataclass(frozen=True, kw_only=True)
class Hit:
    """One pattern match: the words, the signal, and whether a negation cancels it."""

    words: str
    signal: Signal
    clause: int
    negated: bool = False


@dataclass(frozen=True, kw_only=True)
class Route:
    """Where a symptom was routed, and why (the words that matched).

    `categories` is every category to check, in `Category` order; `stated` are those the
    user's words name directly (the rest were implied, or the text was ambiguous), so a
    ranking can put the causes of a stated symptom first. `ignored` are matched words that a
    negation cancelled ("no 5xx", "memory looks flat").
    """

    symptom: str
    categories: tuple[Category, ...]
    matched: dict[Category, tuple[str, ...]]
    reason: str
    stated: tuple[Category, ...] = ()
    implied: dict[Category, str] = field(default_factory=dict)  # category -> why
    ignored: tuple[str, ...] = ()


def normalise(text: str) -> str:
    """Lowercase, straight quotes, single spaces, common typos and glued words fixed."""
    text = re.sub(r"[A-Za-z]+", _split_camel, text)
    lowered = text.lower().replace("\u2019", "'").replace("\u2018", "'")
    lowered = lowered.replace("\u201c", '"').replace("\u201d", '"').replace("\u2013", "-")
    lowered = re.sub(r"(?<=[a-z])(?=timeouts?\b)", " ", lowered)  # ReadTimeout -> read timeout
    lowered = re.sub(r"[\w.]*outofmemory(?:error)?", " out of memory ", lowered)
    for wrong, right in TYPOS:
        lowered = re.sub(rf"(?<![\w])(?:{wrong})(?![\w])", right, lowered)
    return re.sub(r"\s+", " ", lowered).strip()


def _split_camel(match: re.Match[str]) -> str:
    """Alert names: "KubeContainerOOMKilled" -> "Kube Container OOM Killed". Exception names
    stay whole ("KeyError" is matched as one word), and so do "NaN" and "iOS"."""
    word = match.group(0)
    if word.endswith(("Error", "Exception", "Warning")):
        return word
    return re.sub(r"(?<=[a-z]{2})(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z]{2})", " ", word)


MAX_SYMPTOM_CHARS = 4000  # a description, an alert or an error line; not a log


def route(symptom: str | None) -> Route:
    """Route free text to categories. No symptom: every category. Unmatched or ambiguous
    text: the speed and accuracy categories, with the reason said."""
    text = (symptom or "").strip()
    if len(text) > MAX_SYMPTOM_CHARS:  # the matching is not linear in the text
        from infermedic.errors import InputError

        raise InputError(
            f"the symptom is {len(text)} characters long, over {MAX_SYMPTOM_CHARS}",
            hint="describe what is wrong in a sentence or two (an alert name, an error line)",
        )
    if not text:
        return Route(
            symptom="",
            categories=tuple(Category),
            matched={},
            reason="no symptom given: every check the inputs allow",
        )
    lowered = normalise(text)
    hits = _resolve(_find_hits(lowered))
    stated: dict[Category, list[str]] = {}
    implied: dict[Category, tuple[str, str]] = {}
    for hit in hits:
        if hit.negated:
            continue
        for category in hit.signal.stated:
            stated.setdefault(category, [])
            if hit.words not in stated[category]:
                stated[category].append(hit.words)
    for hit in hits:
        if hit.negated:
            continue
        for category in hit.signal.implied:
            if category not in stated and category not in implied:
                implied[category] = (hit.words, hit.signal.why)
    ignored = tuple(dict.fromkeys(h.words for h in hits if h.negated))
    if stated:
        matched = {c: tuple(w) for c, w in stated.items()}
        for category, (words, _) in implied.items():
            matched[category] = (words,)
        categories = tuple(c for c in Category if c in matched)
        parts = [
            f"{c.label}: matched {', '.join(repr(w) for w in stated[c])}"
            if c in stated
            else f"{c.label}: implied by {implied[c][0]!r} ({implied[c][1]})"
            for c in categories
        ]
        if ignored:
            parts.append(f"ignored as negated: {', '.join(repr(w) for w in ignored)}")
        return Route(
            symptom=text,
            categories=categories,
            matched=matched,
            reason="; ".join(parts),
            stated=tuple(c for c in Category if c in stated),
            implied={c: why for c, (_, why) in implied.items()},
            ignored=ignored,
        )
    ambiguous = _matches(lowered, AMBIGUOUS)
    why = (
        f"{', '.join(repr(w) for w in ambiguous)} names no single cause"
        if ambiguous
        else "no known symptom word matched"
    )
    if ignored:
        why += f" (ignored as negated: {', '.join(repr(w) for w in ignored)})"
    return Route(
        symptom=text,
        categories=AMBIGUOUS_CATEGORIES,
        matched={},
        reason=f"{why}: running both the speed and the accuracy checks",
        ignored=ignored,
    )


def _clauses(text: str) -> list[tuple[int, int]]:
    """(start, end) of each clause of `text`."""
    bounds: list[tuple[int, int]] = []
    start = 0
    for brk in _CLAUSE_BREAK.finditer(text):
        bounds.append((start, brk.start()))
        start = brk.end()
    bounds.append((start, len(text)))
    return bounds


def _find_hits(text: str) -> list[Hit]:
    clauses = _clauses(text)
    claimed: list[tuple[int, int]] = []
    hits: list[tuple[int, Hit]] = []
    for signal in SIGNALS:
        for match in re.finditer(rf"(?<![\w.])(?:{signal.pattern})(?![\w])", text):
            begin, end = match.span()
            if begin == end or any(begin < e and b < end for b, e in claimed):
                continue
            claimed.append((begin, end))
            index = next(i for i, (b, e) in enumerate(clauses) if b <= begin <= e)
            clause_start, clause_end = clauses[index]
            hits.append(
                (
                    begin,
                    Hit(
                        words=match.group(0),
                        signal=signal,
                        clause=index,
                        negated=_negated(text[clause_start:begin], text[end:clause_end]),
                    ),
                )
            )
    return [hit for _, hit in sorted(hits, key=lambda pair: pair[0])]


def _negated(before: str, after: str) -> bool:
    """'no errors', 'not slow', 'without any 5xx', 'memory looks flat', 'p50 is fine'."""
    words = re.findall(r"[\w']+", before)[-2:]
    if any(w in _NEGATORS or w.endswith("n't") for w in words):
        return True
    return _FINE_AFTER.match(after) is not None


def _resolve(hits: list[Hit]) -> list[Hit]:
    """Apply the per-clause rules (module docstring, steps 4 and 5)."""
    live = [h for h in hits if not h.negated]
    memory_named = any(h.signal.role is Role.MEMORY for h in live)
    resolved: list[Hit] = []
    for hit in hits:
        if hit.negated:
            resolved.append(hit)
            continue
        same_clause = [h for h in live if h.clause == hit.clause and h is not hit]
        role = hit.signal.role
        signal = hit.signal
        if role is Role.MODIFIER or (role is Role.NEUTRAL and not signal.implied):
            continue
        if role is Role.WEAK_FAILURE and any(
            {Category.SLOW, Category.SPIKES, Category.MEMORY} & set(h.signal.stated)
            for h in live
            if h.signal.role is not role
        ):
            continue  # "tail latencies blow up": the size of another symptom
        if role in (Role.SLOWNESS, Role.WEAK_SPEED) and any(
            h.signal.role is Role.MODIFIER for h in same_clause
        ):
            signal = _as(signal, Category.SPIKES)
        elif role is Role.WEAK_SPEED and any(Category.SPIKES in h.signal.stated for h in live):
            continue  # "latency graph looks odd, big spikes every 30s": the tail is the point
        if role is Role.WEAK_QUALITY and any(
            _names_symptom(h) and h.signal.role is not Role.WEAK_QUALITY for h in same_clause
        ):
            continue
        if role is Role.CRASH and memory_named:
            signal = _as(signal, Category.MEMORY)
        resolved.append(Hit(words=hit.words, signal=signal, clause=hit.clause))
    return resolved


def _names_symptom(hit: Hit) -> bool:
    return bool(hit.signal.stated) and hit.signal.role is not Role.MODIFIER


def _as(signal: Signal, category: Category) -> Signal:
    """The same match read as `category` alone (a slowness under 'sometimes' is a spike)."""
    return Signal(pattern=signal.pattern, stated=(category,), role=signal.role)


def _matches(text: str, patterns: Iterable[str]) -> tuple[str, ...]:
    found: list[str] = []
    for pattern in patterns:
        for match in re.finditer(rf"(?<![\w.])(?:{pattern})(?![\w])", text):
            if match.group(0) not in found:
                found.append(match.group(0))
    return tuple(found)
