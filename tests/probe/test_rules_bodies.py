"""LIVE005 and LIVE008 judged on recorded measurements: re-checked 5xx, NaN, the field named,
memory that follows distinct bodies and not repeated ones."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from infermedic.model import Finding, Notification, Severity
from infermedic.probe.http import Exchange
from infermedic.probe.observations import (
    BodyMemoryPhase,
    MemorySample,
    ProbeObservations,
    RobustnessCase,
)
from infermedic.probe.plan import ProbePlan
from infermedic.probe.rules.base import MeasuredRule
from infermedic.probe.rules.memory_growth_under_load import MemoryGrowthUnderLoad
from infermedic.probe.rules.server_error_on_bad_input import ServerErrorOnBadInput

MIB = 1024.0 * 1024.0
URL = "http://svc.test"


@dataclass
class Recorded:
    """The measurements a test sets one by one; `judge` freezes them into observations."""

    robustness: list[RobustnessCase] = field(default_factory=list)
    body_memory: list[BodyMemoryPhase] = field(default_factory=list)
    memory: list[MemorySample] = field(default_factory=list)
    identical_load_end_s: float | None = None
    notifications: list[Notification] = field(default_factory=list)


def context() -> Recorded:
    return Recorded()


def judge(rule: MeasuredRule, recorded: Recorded) -> list[Finding]:
    observations = ProbeObservations(
        base_url=URL,
        predict_path="/score",
        rate=ProbePlan().rate,  # the load rate when no load run recorded one
        robustness=tuple(recorded.robustness),
        body_memory=tuple(recorded.body_memory),
        memory=tuple(recorded.memory),
        identical_load_end_s=recorded.identical_load_end_s,
    )
    results = list(rule.check(observations))
    recorded.notifications.extend(r for r in results if isinstance(r, Notification))
    return [r for r in results if isinstance(r, Finding)]


def answer(status: int, body: Any = None) -> Exchange:
    return Exchange(
        method="POST",
        url=URL + "/score",
        request_excerpt=str(body),
        status=status,
        reason="Internal Server Error" if status >= 500 else "OK",
        elapsed_s=0.01,
    )


def case(name: str, status: int, recheck: int | None = None, **fields: Any) -> RobustnessCase:
    body = fields.pop("body", {"age": 40})
    return RobustnessCase(
        name=name,
        exchange=answer(status, body),
        recheck=answer(recheck, body) if recheck is not None else None,
        body=body,
        **fields,
    )


def test_a_500_not_reproduced_on_a_fresh_connection_is_not_counted() -> None:
    ctx = context()
    ctx.robustness = [case("missing field `age`", 500, recheck=422, field="age")]
    assert judge(ServerErrorOnBadInput(), ctx) == []
    assert any("fresh connection" in n.message for n in ctx.notifications)


def test_a_nan_500_is_a_warning_not_missing_validation() -> None:
    ctx = context()
    ctx.robustness = [
        case("NaN at `age`", 500, recheck=500, field="age", non_json=True),
        case("missing field `age`", 422, field="age"),
    ]
    assert judge(ServerErrorOnBadInput(), ctx) == []
    note = next(n for n in ctx.notifications if n.rule == "LIVE005")
    assert "not missing validation" in note.message


def test_an_optional_field_left_out_names_the_field_and_the_body() -> None:
    ctx = context()
    ctx.robustness = [
        case("missing field `age`", 422, field="age"),
        case(
            "optional field `segment` left out",
            500,
            recheck=500,
            field="segment",
            kind="omitted",
            valid=True,
            body={"age": 40},
        ),
        case("value 0 at `age`", 200, field="age", kind="boundary", valid=True),
    ]
    [finding] = judge(ServerErrorOnBadInput(), ctx)
    assert finding.severity is Severity.HIGH  # a request the schema allows
    assert "field `segment`" in finding.message
    assert "optional field `segment` left out → 500" in finding.message
    recorded = next(e for e in finding.evidence if "request_body" in e.values)
    assert recorded.values["request_body"] == {"age": 40}
    assert recorded.values["status"] == 500 and recorded.values["recheck_status"] == 500


def test_failures_are_grouped_by_field() -> None:
    ctx = context()
    ctx.robustness = [
        case("wrong type at `age`", 500, recheck=500, field="age"),
        case("null at `segment`", 500, recheck=500, field="segment", kind="null"),
        case("empty body", 500, recheck=500),
    ]
    findings = judge(ServerErrorOnBadInput(), ctx)
    assert sorted(f.fingerprint_key for f in findings) == ["age", "body", "segment"]
    assert all(f.severity is Severity.MEDIUM for f in findings)  # none the schema allows


def phases(identical: list[float], distinct: list[float], n: int = 150) -> list[BodyMemoryPhase]:
    found: list[BodyMemoryPhase] = []
    rss = 100 * MIB
    for number, (same, new) in enumerate(zip(identical, distinct, strict=True), start=1):
        for kind, growth in (("identical", same), ("distinct", new)):
            found.append(
                BodyMemoryPhase(
                    kind=kind,
                    round=number,
                    requests=n,
                    errors=0,
                    rss_before=rss,
                    rss_after=rss + growth * MIB,
                    source="psutil RSS of pid 1",
                )
            )
            rss += growth * MIB
    return found


def test_memory_that_follows_distinct_bodies_is_attributed_to_them() -> None:
    ctx = context()
    # a warm-up jump in the first identical round, then flat; distinct rounds grow 9 MiB each
    ctx.body_memory = phases(identical=[6.0, 0.1], distinct=[9.4, 9.3])
    [finding] = judge(MemoryGrowthUnderLoad(), ctx)
    assert "distinct request body" in finding.message
    assert finding.location.endpoint == "POST /score"
    values = finding.evidence[0].values
    assert values["kib_per_distinct_body"] > 60 and values["kib_per_identical_body"] < 1


def test_memory_that_grows_with_every_request_is_not_blamed_on_distinct_bodies() -> None:
    ctx = context()
    ctx.body_memory = phases(identical=[4.0, 4.0], distinct=[4.1, 3.9])
    keys = [f.fingerprint_key for f in judge(MemoryGrowthUnderLoad(), ctx)]
    assert keys == ["every-request"]  # kept per request, not per distinct body


def test_one_round_or_a_single_jump_is_not_enough() -> None:
    ctx = context()
    ctx.body_memory = phases(identical=[0.0], distinct=[20.0])
    assert judge(MemoryGrowthUnderLoad(), ctx) == []
    ctx.body_memory = phases(identical=[0.0, 0.0], distinct=[20.0, 0.2])  # one step, then flat
    assert judge(MemoryGrowthUnderLoad(), ctx) == []


def test_load_growth_counts_only_samples_of_the_repeated_body() -> None:
    ctx = context()
    # flat while the load repeated one body; the climb after 6 s is the varied requests'
    ctx.memory = [
        MemorySample(at_s=float(t), rss_bytes=(100 + (max(t - 6, 0)) * 20) * MIB, source="x")
        for t in range(30)
    ]
    ctx.identical_load_end_s = 6.0
    assert judge(MemoryGrowthUnderLoad(), ctx) == []
    ctx.identical_load_end_s = None
    [finding] = judge(MemoryGrowthUnderLoad(), ctx)
    assert finding.message.startswith("with one request body repeated")


def test_distinct_bodies_much_slower_than_repeated_ones_is_said() -> None:
    ctx = context()
    recorded = phases(identical=[0.0, 0.0], distinct=[0.0, 0.0])
    ctx.body_memory = [
        replace(p, median_ms=2.0 if p.kind == "identical" else 40.0) for p in recorded
    ]
    assert judge(MemoryGrowthUnderLoad(), ctx) == []
    assert any("caches by request" in n.message for n in ctx.notifications)
    ctx = context()
    ctx.body_memory = [replace(p, median_ms=2.0) for p in recorded]
    judge(MemoryGrowthUnderLoad(), ctx)
    assert not ctx.notifications


def test_rounds_that_all_grow_show_memory_kept_per_request() -> None:
    ctx = context()
    ctx.body_memory = phases(identical=[6.0, 4.0], distinct=[4.1, 3.9])
    [finding] = judge(MemoryGrowthUnderLoad(), ctx)
    assert finding.fingerprint_key == "every-request"
    assert "repeated or distinct bodies alike" in finding.message
    # the load run already showed it: one finding, not two
    ctx.memory = [
        MemorySample(at_s=float(t), rss_bytes=(100 + t * 20) * MIB, source="x") for t in range(10)
    ]
    assert [f.fingerprint_key for f in judge(MemoryGrowthUnderLoad(), ctx)] == [""]
