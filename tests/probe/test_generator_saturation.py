"""The load generator's report on itself, from recorded measurements (no live timing).

A generator at its limit measures itself: the report must say so in a notification, keep
the numbers in its measurements, and a generator that kept up must stay silent.
"""

from __future__ import annotations

from infermedic.model import NotificationLevel
from infermedic.probe.context import LoadResult, ProbeContext
from infermedic.probe.http import Redactor
from infermedic.probe.loadgen import GeneratorStats, LoadRecorder, SendResult, StepResult
from infermedic.probe.plan import ProbePlan
from infermedic.probe.protocols import ServiceMap
from infermedic.probe.report import build_report
from infermedic.runner import RuleOutcome

BUSY = GeneratorStats(cpu_fraction=0.97, loop_lag_mean_ms=1.2, loop_lag_max_ms=9.0)
LAGGING = GeneratorStats(cpu_fraction=0.55, loop_lag_mean_ms=7.5, loop_lag_max_ms=40.0)
CALM = GeneratorStats(cpu_fraction=0.31, loop_lag_mean_ms=0.4, loop_lag_max_ms=2.0)


def step(concurrency: int, generator: GeneratorStats | None) -> StepResult:
    return StepResult(
        concurrency=concurrency,
        throughput=1000.0,
        p50_ms=1.0,
        p95_ms=2.0,
        p99_ms=3.0,
        mean_ms=1.2,
        requests=3000,
        errors=0,
        windows=3,
        stable=True,
        elapsed_s=3.0,
        generator=generator,
    )


def context(load: GeneratorStats | None, sweep: list[GeneratorStats | None]) -> ProbeContext:
    recorder = LoadRecorder()
    for i in range(100):
        recorder.record(i / 100, 0.002, 0.002, 0.0, SendResult(200))
    recorder.elapsed_s = 1.0
    recorder.generator = load
    ctx = ProbeContext(
        base_url="http://127.0.0.1:1",
        plan=ProbePlan(),
        redact=Redactor(()),
        service=ServiceMap(predict_path="/predict"),
    )
    ctx.load = LoadResult(
        recorder=recorder, rate=100.0, duration_s=1.0, workers=1, trustworthy=True
    )
    ctx.sweep = [step(2**i, g) for i, g in enumerate(sweep)]
    return ctx


def report_of(ctx: ProbeContext) -> tuple[list[str], dict[str, object]]:
    judged = RuleOutcome(findings=(), notifications=(), rules_run=(), rules_failed=())
    report = build_report(ctx, judged, started_at="t", duration_s=1.0)
    warnings = [n.message for n in report.notifications if n.level is NotificationLevel.WARNING]
    return warnings, dict(report.measurements)


def test_a_saturated_sweep_step_is_reported_with_its_numbers() -> None:
    warnings, measurements = report_of(context(CALM, [CALM, CALM, BUSY]))
    [warning] = [w for w in warnings if "load generator was saturated" in w]
    assert "sweep at concurrency 4" in warning and "97% of a CPU core" in warning
    assert "load," not in warning  # the load phase kept up
    generator = measurements["generator"]
    assert isinstance(generator, dict) and generator["saturated"] is True
    assert generator["phases"]["sweep at concurrency 4"]["cpu_fraction"] == 0.97
    assert generator["phases"]["load"]["saturated"] is False
    assert measurements["load"]["generator"]["cpu_fraction"] == 0.31


def test_event_loop_lag_alone_is_saturation() -> None:
    warnings, _ = report_of(context(LAGGING, []))
    assert any("saturated during load" in w and "7.5 ms late" in w for w in warnings)


def test_a_generator_that_kept_up_says_nothing() -> None:
    warnings, measurements = report_of(context(CALM, [CALM, CALM]))
    assert not [w for w in warnings if "generator" in w]
    assert measurements["generator"] == {
        "saturated": False,
        "phases": {
            "load": CALM.to_dict(),
            "sweep at concurrency 1": CALM.to_dict(),
            "sweep at concurrency 2": CALM.to_dict(),
        },
    }


def test_worker_processes_merge_to_the_busiest() -> None:
    one, two = LoadRecorder(), LoadRecorder()
    one.generator, two.generator = CALM, BUSY
    merged = LoadRecorder.merged([one.to_payload(), two.to_payload()])
    assert merged.generator == GeneratorStats(
        cpu_fraction=0.97, loop_lag_mean_ms=1.2, loop_lag_max_ms=9.0
    )
    assert LoadRecorder.merged([LoadRecorder().to_payload()]).generator is None


def test_a_generator_behind_its_schedule_is_reported_from_its_recorded_lags() -> None:
    """The open loop's own lateness (sends later than the tolerance), from recorded sends:
    past the allowed share the percentiles are flagged, with the numbers."""
    recorder = LoadRecorder(late_tolerance_s=0.005)
    for i in range(100):
        lag = 0.012 if i % 4 == 0 else 0.001  # a quarter of the sends 12 ms late
        recorder.record(i / 100, 0.002 + lag, 0.002, lag, SendResult(200))
    recorder.elapsed_s = 1.0
    recorder.generator = CALM
    limits = ProbePlan().thresholds
    assert not recorder.kept_schedule(limits.late_send_fraction)
    ctx = context(CALM, [])
    ctx.load = LoadResult(
        recorder=recorder,
        rate=100.0,
        duration_s=1.0,
        workers=1,
        trustworthy=recorder.kept_schedule(limits.late_send_fraction),
    )
    warnings, measurements = report_of(ctx)
    [warning] = [w for w in warnings if "fell behind its schedule" in w]
    assert "25.0% of requests" in warning and "max 12.0 ms" in warning
    assert measurements["load"]["percentiles_trustworthy"] is False
    # one late send in a hundred is within perf_analyzer's 1 %: nothing said
    calm = LoadRecorder(late_tolerance_s=0.005)
    for i in range(100):
        calm.record(i / 100, 0.002, 0.002, 0.012 if i == 0 else 0.0, SendResult(200))
    assert calm.kept_schedule(limits.late_send_fraction)
