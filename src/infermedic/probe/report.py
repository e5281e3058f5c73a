"""Turning a probe's measurements into the shared `Report`: tables, plots, measurements."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from infermedic.model import Finding, Notification, NotificationLevel, Plot, Report, Series, Table
from infermedic.probe.checks.contract import sane_prediction_body, versions_in_response
from infermedic.probe.checks.load import timing_stage_means
from infermedic.probe.checks.sweep import knee
from infermedic.probe.context import ProbeContext
from infermedic.probe.histogram import PERCENTILES, LatencyHistogram, percentile_key
from infermedic.probe.loadgen import GeneratorStats
from infermedic.runner import RuleOutcome

MIB = 1024.0 * 1024.0


def build_report(
    ctx: ProbeContext,
    judged: RuleOutcome,
    *,
    started_at: str,
    duration_s: float,
) -> Report:
    tables: list[Table] = []
    plots: list[Plot] = []
    measurements: dict[str, Any] = {"target": ctx.base_url, **judged.status()}
    notes = list(ctx.notifications)
    _service(ctx, tables, measurements)
    _contract(ctx, measurements)
    _load(ctx, tables, plots, measurements, notes)
    _sweep(ctx, tables, plots, measurements)
    _blocking(ctx, tables, measurements)
    _robustness(ctx, tables, measurements)
    _memory(ctx, plots, measurements)
    _body_memory(ctx, tables, measurements)
    _generator(ctx, measurements, notes)
    return Report(
        tool="probe",
        findings=tuple(_redacted(f, ctx) for f in judged.findings),
        # `replace` keeps every field (`underpowered` tells diagnose a rule lacked power).
        notifications=tuple(replace(n, message=ctx.redact(n.message)) for n in notes),
        rules_run=judged.rules_run,
        inputs=(ctx.base_url, *((ctx.plan.input_source,) if ctx.plan.input_source else ())),
        tables=tuple(tables),
        plots=tuple(plots),
        measurements=measurements,
        started_at=started_at,
        duration_s=round(duration_s, 3),
    )


def generator_phases(ctx: ProbeContext) -> list[tuple[str, GeneratorStats]]:
    """The load generator's own CPU share and loop lag in each phase that sent load."""
    phases: list[tuple[str, GeneratorStats]] = []
    if ctx.load is not None and ctx.load.recorder.generator is not None:
        phases.append(("load", ctx.load.recorder.generator))
    phases.extend(
        (f"sweep at concurrency {step.concurrency}", step.generator)
        for step in ctx.sweep or []
        if step.generator is not None
    )
    if ctx.blocking is not None:
        for name, stats in (
            ("blocking (canary under load)", ctx.blocking.loaded.generator),
            ("blocking (concurrent predictions)", ctx.blocking.concurrent.generator),
        ):
            if stats is not None:
                phases.append((name, stats))
    return phases


def _generator(ctx: ProbeContext, measurements: dict[str, Any], notes: list[Notification]) -> None:
    """The generator measures itself in every phase and says when it was the bottleneck, so
    a report never silently presents the generator's limit as the service's."""
    phases = generator_phases(ctx)
    if not phases:
        return
    saturated = [(name, stats) for name, stats in phases if stats.saturated]
    measurements["generator"] = {
        "saturated": bool(saturated),
        "phases": {name: stats.to_dict() for name, stats in phases},
    }
    if not saturated:
        return
    name, stats = max(saturated, key=lambda p: p[1].cpu_fraction)
    where = ", ".join(n for n, _ in saturated)
    notes.append(
        Notification(
            level=NotificationLevel.WARNING,
            message=(
                f"the load generator was saturated during {where} (worst, {name}: "
                f"{stats.describe()}); there it may have measured its own limit, not the "
                "service's: latency and throughput are bounds, not findings. Add --workers, "
                "lower --rate, or run probe on a machine the service does not share"
            ),
        )
    )


def _redacted(finding: Finding, ctx: ProbeContext) -> Finding:
    """A last pass so no secret reaches a report even if a server echoed it back."""
    evidence = tuple(
        replace(
            e,
            action=ctx.redact(e.action),
            observed=ctx.redact(e.observed),
            values=_redact_values(e.values, ctx),
        )
        for e in finding.evidence
    )
    return replace(finding, message=ctx.redact(finding.message), evidence=evidence)


def _redact_values(value: Any, ctx: ProbeContext) -> Any:
    if isinstance(value, str):
        return ctx.redact(value)
    if isinstance(value, Mapping):
        return {k: _redact_values(v, ctx) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_values(v, ctx) for v in value]
    return value


def _service(ctx: ProbeContext, tables: list[Table], measurements: dict[str, Any]) -> None:
    service = ctx.service
    measurements["protocols"] = [
        {"protocol": m.protocol, "confidence": m.confidence, "detail": ctx.redact(m.detail)}
        for m in service.protocols
    ]
    measurements["routes"] = {
        "predict": service.predict_path,
        "predict_reason": service.predict_reason,
        "liveness": service.liveness_path,
        "readiness": service.readiness_path,
        "metrics": service.metrics_path,
        "model": service.model_name,
        "request_body_source": service.body_source,
    }
    rows = tuple((m.protocol, m.confidence, ctx.redact(m.detail)) for m in service.protocols)
    tables.append(
        Table(
            title="Protocols detected",
            columns=("protocol", "confidence", "detail"),
            rows=rows or (("none recognised", "-", "-"),),
            key="protocols",
        )
    )


def _contract(ctx: ProbeContext, measurements: dict[str, Any]) -> None:
    contract = ctx.contract
    if contract is None:
        return
    data: dict[str, Any] = {}
    for name, exchange in (
        ("liveness", contract.liveness),
        ("readiness", contract.readiness),
        ("metrics", contract.metrics),
        ("prediction", contract.prediction),
        ("unauthenticated_prediction", contract.unauthenticated),
    ):
        if exchange is not None:
            data[name] = {
                "status": exchange.status,
                "elapsed_ms": round(exchange.elapsed_s * 1e3, 3),
            }
    if contract.prediction is not None:
        data["prediction"]["sane_body"] = sane_prediction_body(contract.prediction)[0]
    data["metrics_parse_error"] = contract.metrics_error
    data["model_versions"] = [{"source": s, "version": v} for s, v in contract.versions]
    # every version any response named, the repeated requests included: behind a load
    # balancer they reach other replicas (the registry check compares these with its alias)
    served = dict.fromkeys(
        [*contract.versions, *(p for e in ctx.repeats for p in versions_in_response(e))]
    )
    data["served_versions"] = [{"source": s, "version": v} for s, v in served]
    measurements["contract"] = data


def _latency_row(name: str, hist: LatencyHistogram) -> tuple[Any, ...]:
    summary = hist.summary()
    return (
        name,
        hist.count,
        *(summary.get(percentile_key(p)) for p in PERCENTILES),
        summary.get("max_ms"),
    )


def _load(
    ctx: ProbeContext,
    tables: list[Table],
    plots: list[Plot],
    measurements: dict[str, Any],
    notes: list[Notification],
) -> None:
    load = ctx.load
    if load is None:
        return
    rec = load.recorder
    windows = rec.windows.windows()
    late = rec.late_fraction()
    if not load.trustworthy:
        notes.append(
            Notification(
                level=NotificationLevel.WARNING,
                message=(
                    f"the load generator fell behind its schedule: {late:.1%} of requests were "
                    f"sent more than {ctx.thresholds.late_send_tolerance_ms:g} ms late (max "
                    f"{rec.max_lag_s * 1e3:.1f} ms); latency percentiles are not trustworthy — "
                    "lower --rate or add --workers"
                ),
            )
        )
    if rec.timing_rejected:
        ignored = sum(rec.timing_rejected.values())
        notes.append(
            Notification(
                level=NotificationLevel.WARNING,
                message=(
                    f"ignored {ignored} server timing value(s) that are no duration "
                    f"(infinite, NaN or negative), e.g. {', '.join(rec.timing_examples)}; "
                    "the server-side stage times use only the plausible ones"
                ),
            )
        )
    redirects = sum(n for status, n in rec.statuses.items() if 300 <= status < 400)
    if redirects:
        notes.append(
            Notification(
                level=NotificationLevel.WARNING,
                message=(
                    f"{redirects} load response(s) were redirects (3xx); probe never follows a "
                    "redirect and counts them as failed requests"
                ),
            )
        )
    if rec.interrupted:
        notes.append(
            Notification(
                level=NotificationLevel.WARNING,
                message=f"load run stopped early after {rec.elapsed_s:.1f} s",
            )
        )
    measurements["load"] = {
        "rate_rps": load.rate,
        "duration_s": load.duration_s,
        "workers": load.workers,
        "requests": rec.requests,
        "scheduled": rec.scheduled,
        "throughput_rps": round(rec.throughput(), 2),
        "errors": rec.errors,
        "statuses": {str(k): v for k, v in sorted(rec.statuses.items())},
        "transport_errors": dict(rec.errors_seen),
        "latency": rec.latency.summary(),  # from intended send time (CO-corrected)
        "service_time": rec.service.summary(),  # from actual send time
        "late_sends": rec.late_sends,
        "late_send_fraction": round(late, 5),
        "max_send_lag_ms": round(rec.max_lag_s * 1e3, 3),
        "percentiles_trustworthy": load.trustworthy,
        "generator": rec.generator.to_dict() if rec.generator else None,
        "interrupted": rec.interrupted,
        "latency_over_time": [w.to_dict() for w in windows],
        "server_timing": timing_stage_means(rec),
        "server_timing_ignored": dict(rec.timing_rejected),
        "metrics_stages": [
            {
                "stage": s.stage,
                "mean_ms": round(s.mean_ms, 3),
                "requests": s.requests,
                "source": s.source,
            }
            for s in load.stages
        ],
        "metrics_request_delta": load.metrics_requests,
    }
    tables.append(
        Table(
            title=f"Latency under load ({load.rate:g} req/s for {load.duration_s:g} s, ms)",
            columns=("measured from", "requests", "p50", "p90", "p95", "p99", "p99.9", "max"),
            rows=(
                _latency_row("intended send (CO-free)", rec.latency),
                _latency_row("actual send", rec.service),
            ),
            key="load_latency",
        )
    )
    tables.append(
        Table(
            title="Responses by status under load",
            columns=("status", "count"),
            rows=tuple(
                (str(s) if s else "no response", n) for s, n in sorted(rec.statuses.items())
            ),
            key="load_statuses",
        )
    )
    if windows:
        xs = tuple(w.start_s for w in windows)
        plots.append(
            Plot(
                title="Latency over time (1 s windows)",
                kind="line",
                x_label="time (s)",
                y_label="latency (ms)",
                key="latency_over_time",
                series=(
                    Series(name="p50", x=xs, y=tuple(_finite(w.p50_ms) for w in windows)),
                    Series(name="p99", x=xs, y=tuple(_finite(w.p99_ms) for w in windows)),
                    Series(name="max", x=xs, y=tuple(_finite(w.max_ms) for w in windows)),
                ),
            )
        )


def _sweep(
    ctx: ProbeContext, tables: list[Table], plots: list[Plot], measurements: dict[str, Any]
) -> None:
    if not ctx.sweep:
        return
    best = knee(ctx.sweep)
    measurements["sweep"] = {
        "steps": [s.to_dict() for s in ctx.sweep],
        "knee_concurrency": best.concurrency if best else None,
    }
    tables.append(
        Table(
            title="Concurrency sweep (closed loop)",
            columns=(
                "concurrency",
                "req/s",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "requests",
                "errors",
                "stable",
                "knee",
            ),
            rows=tuple(
                (
                    s.concurrency,
                    round(s.throughput, 1),
                    round(s.p50_ms, 2),
                    round(s.p95_ms, 2),
                    round(s.p99_ms, 2),
                    s.requests,
                    s.errors,
                    s.stable,
                    s is best,
                )
                for s in ctx.sweep
            ),
            key="sweep",
        )
    )
    xs = tuple(float(s.concurrency) for s in ctx.sweep)
    plots.append(
        Plot(
            title="Throughput by concurrency",
            kind="line",
            x_label="concurrency",
            y_label="requests/s",
            key="sweep_throughput",
            x_scale="log",  # concurrency doubles: 1, 2, 4, ... 64
            series=(Series(name="throughput", x=xs, y=tuple(s.throughput for s in ctx.sweep)),),
        )
    )
    plots.append(
        Plot(
            title="Latency by concurrency",
            kind="line",
            x_label="concurrency",
            y_label="latency (ms)",
            key="sweep_latency",
            x_scale="log",  # concurrency doubles: 1, 2, 4, ... 64
            series=(
                Series(name="p50", x=xs, y=tuple(_finite(s.p50_ms) for s in ctx.sweep)),
                Series(name="p99", x=xs, y=tuple(_finite(s.p99_ms) for s in ctx.sweep)),
            ),
        )
    )


def _blocking(ctx: ProbeContext, tables: list[Table], measurements: dict[str, Any]) -> None:
    blocking = ctx.blocking
    if blocking is None:
        return
    measurements["blocking"] = {
        "health_path": blocking.health_path,
        "canary_rate_rps": ctx.plan.canary_rate,
        # timed from the intended send (coordinated-omission free) ...
        "health_idle": blocking.idle.latency.summary(),
        "health_loaded": blocking.loaded.latency.summary(),
        # ... and from the actual send, which LIVE001 judges (it excludes generator lateness)
        "health_idle_service": blocking.idle.service.summary(),
        "health_loaded_service": blocking.loaded.service.summary(),
        "predict_concurrency_1": blocking.single.to_dict(),
        "predict_concurrency_n": blocking.concurrent.to_dict(),
    }
    tables.append(
        Table(
            title=f"Health canary ({blocking.health_path}) idle vs under predict load (ms)",
            columns=("phase", "requests", "p50", "p90", "p95", "p99", "p99.9", "max"),
            # Both timings, labelled: LIVE001 quotes the actual-send one (the generator's own
            # lateness is not the service's), the load table leads with the intended-send one.
            rows=(
                _latency_row("idle, from actual send (LIVE001)", blocking.idle.service),
                _latency_row(
                    f"predict at concurrency {blocking.concurrent.concurrency}, from actual send "
                    "(LIVE001)",
                    blocking.loaded.service,
                ),
                _latency_row("idle, from intended send (CO-free)", blocking.idle.latency),
                _latency_row(
                    f"predict at concurrency {blocking.concurrent.concurrency}, from intended "
                    "send (CO-free)",
                    blocking.loaded.latency,
                ),
            ),
            key="blocking",
        )
    )


def _robustness(ctx: ProbeContext, tables: list[Table], measurements: dict[str, Any]) -> None:
    if not ctx.robustness:
        return
    measurements["robustness"] = [
        {
            "case": c.name,
            "status": c.exchange.status,
            "elapsed_ms": round(c.exchange.elapsed_s * 1e3, 3),
        }
        for c in ctx.robustness
    ]
    tables.append(
        Table(
            title="Malformed requests",
            columns=("case", "status", "verdict"),
            rows=tuple(
                (
                    c.name,
                    c.exchange.status or "no response",
                    "ok"
                    if 400 <= c.exchange.status < 500
                    else "server error"
                    if c.exchange.status == 0 or c.exchange.status >= 500
                    else "accepted",
                )
                for c in ctx.robustness
            ),
            key="robustness",
        )
    )


def _memory(ctx: ProbeContext, plots: list[Plot], measurements: dict[str, Any]) -> None:
    if not ctx.memory:
        return
    measurements["memory"] = {
        "source": ctx.memory[0].source,
        "samples": [{"at_s": s.at_s, "rss_mib": round(s.rss_bytes / MIB, 2)} for s in ctx.memory],
    }
    plots.append(
        Plot(
            title="Service resident memory",
            kind="line",
            x_label="time (s)",
            y_label="RSS (MiB)",
            key="memory",
            series=(
                Series(
                    name="rss",
                    x=tuple(s.at_s for s in ctx.memory),
                    y=tuple(s.rss_bytes / MIB for s in ctx.memory),
                ),
            ),
        )
    )


def _body_memory(ctx: ProbeContext, tables: list[Table], measurements: dict[str, Any]) -> None:
    """The body-cache check: memory and latency of identical against distinct bodies."""
    phases = ctx.body_memory
    if not phases:
        return
    measurements["body_memory"] = {
        "source": phases[0].source,
        "phases": [
            {
                "kind": p.kind,
                "round": p.round,
                "requests": p.requests,
                "errors": p.errors,
                "growth_mib": round(p.growth / MIB, 3),
                "median_ms": p.median_ms,
            }
            for p in phases
        ],
    }
    tables.append(
        Table(
            title="Memory per request body (identical vs distinct)",
            columns=("round", "bodies", "requests", "memory growth (MiB)", "median (ms)"),
            rows=tuple(
                (
                    p.round,
                    p.kind,
                    p.requests,
                    round(p.growth / MIB, 2),
                    "-" if p.median_ms is None else p.median_ms,
                )
                for p in phases
            ),
            key="body_memory",
        )
    )


def _finite(value: float) -> float:
    return value if math.isfinite(value) else 0.0
