"""Symptom routing: ordinary phrasing reaches its categories; ambiguous words run speed and
accuracy checks; the reason names the words that decided."""

from __future__ import annotations

import pytest

from infermedic.diagnose.router import AMBIGUOUS_CATEGORIES, Category, normalise, route
from tests.diagnose.phrase_bank import CODES, PHRASES


def _expected(labels: str) -> set[Category]:
    if labels == "?":
        return set(AMBIGUOUS_CATEGORIES)
    return {Category(CODES[code]) for code in labels.split()}


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


def test_the_bank_is_large_and_well_formed() -> None:
    assert len(PHRASES) >= 170
    assert len({p.lower() for p, _ in PHRASES}) == len(PHRASES), "duplicate phrase"
    assert sum(1 for _, labels in PHRASES if labels == "?") >= 10  # negatives / ambiguous
    assert sum(1 for _, labels in PHRASES if len(labels.split()) > 1) >= 30  # several
    for _, labels in PHRASES:
        assert labels == "?" or set(labels.split()) <= set(CODES)
    for code in CODES:
        assert sum(1 for _, labels in PHRASES if code in labels.split()) >= 15


@pytest.mark.parametrize(("symptom", "labels"), PHRASES, ids=[p[0][:60] for p in PHRASES])
def test_phrase_bank_routes_to_its_categories(symptom: str, labels: str) -> None:
    routed = route(symptom)
    assert set(routed.categories) == _expected(labels), routed.reason
    # Inspectable: every word the route rests on is in the (normalised) text, and the reason
    # quotes it.
    text = normalise(symptom)
    for words in routed.matched.values():
        for word in words:
            assert word in text
            assert repr(word) in routed.reason
    assert set(routed.stated) <= set(routed.categories)
    if labels != "?":
        assert routed.stated, "a symptom the words name is stated, not only implied"


@pytest.mark.parametrize("symptom", ["performance", "the model is bad", "something is off"])
def test_ambiguous_or_unknown_runs_speed_and_accuracy(symptom: str) -> None:
    routed = route(symptom)
    assert routed.categories == AMBIGUOUS_CATEGORIES
    assert routed.stated == ()
    assert "speed and the accuracy" in routed.reason


def test_no_symptom_runs_everything() -> None:
    assert route(None).categories == tuple(Category)
    assert route("   ").categories == tuple(Category)
    assert route(None).stated == ()


def test_stated_and_implied_are_told_apart() -> None:
    killed = route("the pod keeps getting killed")
    assert killed.stated == (Category.MEMORY,)
    assert set(killed.categories) == {Category.MEMORY, Category.FAILURES}
    assert "liveness" in killed.implied[Category.FAILURES]
    assert "implied by" in killed.reason

    churn = route("the model flags far more customers as churners")
    assert churn.stated == (Category.WRONG,)
    assert Category.ACCURACY in churn.categories
    assert Category.ACCURACY in churn.implied
    assert "'far more'" in churn.reason

    # Memory words explain a restart: no generic-failure category is added.
    oom = route("memory creeps up until the container restarts")
    assert oom.categories == (Category.MEMORY,)
    assert oom.implied == {}


def test_negated_words_are_ignored_and_said() -> None:
    routed = route("no OOMs, no 5xx, but the churn rate it predicts doubled")
    assert Category.MEMORY not in routed.categories
    assert Category.FAILURES not in routed.categories
    assert "'5xx'" in routed.reason and "negated" in routed.reason
    assert set(routed.ignored) >= {"ooms", "5xx"}
    fine = route("p99 latency spikes while p50 looks fine")
    assert fine.categories == (Category.SPIKES,)
    assert "p50" in fine.ignored


def test_a_modifier_turns_slowness_into_a_spike_only_in_its_clause() -> None:
    assert route("sometimes it's slow").categories == (Category.SPIKES,)
    both = route("slow and sometimes 500s")
    assert set(both.categories) == {Category.SLOW, Category.FAILURES}
    tail_then_timeout = route("p99 latency spikes under load, and even /health times out")
    assert set(tail_then_timeout.categories) == {Category.SLOW, Category.SPIKES}


def test_normalisation_fixes_typos_and_glued_words() -> None:
    assert normalise("Latancy is BAD") == "latency is bad"
    assert "read timeout" in normalise("ReadTimeout exceptions")
    assert "out of memory" in normalise("torch.cuda.OutOfMemoryError")
    assert route("memmory leak").categories == (Category.MEMORY,)
    assert normalise("KubeContainerOOMKilled") == "kube container oom killed"
    assert normalise("model returns NaN") == "model returns nan"  # not "na n"
    assert normalise("InconsistentVersionWarning") == "inconsistentversionwarning"


def test_words_that_measure_another_symptom_are_not_failures() -> None:
    assert route("tail latencies blow up after a GC").categories == (Category.SPIKES,)
    assert route("the endpoint blows up on unicode input").categories == (Category.FAILURES,)
    gradual = route("model quality is degrading slowly")
    assert gradual.categories == (Category.ACCURACY,)
    remedy = route("response time degrades over the day and recovers after restart")
    assert remedy.stated == (Category.SLOW,)
    assert set(remedy.categories) == {Category.SLOW, Category.MEMORY}  # not a failure


def test_demo_scenario_symptoms_route_as_their_causes_need() -> None:
    from infermedic.demo.scenarios import SCENARIOS

    by_symptom = {s.symptom: route(s.symptom) for s in SCENARIOS.values()}
    churn = by_symptom["since the serving rewrite the model flags far more customers as churners"]
    # The complaint is about predictions: no speed category outranks it.
    assert set(churn.categories) == {Category.WRONG, Category.ACCURACY}
    for routed in by_symptom.values():
        assert routed.matched, f"{routed.symptom!r} fell through to the fallback"


def test_each_demo_scenario_symptom_routes_to_its_own_category() -> None:
    """The demo and the router share one `Category` enum: a scenario's symptom, in a user's
    words, must state the category the scenario was written for."""
    from infermedic.demo.scenarios import SCENARIOS

    for scenario in SCENARIOS.values():
        if scenario.category is not None:
            assert scenario.category in route(scenario.symptom).stated, scenario.name
