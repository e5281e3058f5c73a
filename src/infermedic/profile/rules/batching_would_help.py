"""PROF001: batching rows into one call would raise throughput within the latency budget."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from infermedic.model import Finding, Severity
from infermedic.profile.context import ProfileObservations, ProfileRule, ms


class BatchingWouldHelp(ProfileRule):
    """## What it does
    Checks whether calling the model on several rows at once serves more rows per second
    than one row per call, within the latency budget.

    ## Why is this bad?
    Per-call overhead (input validation, dispatch, thread start-up) dominates small calls:
    a service that calls the model once per request row pays it for every row, and needs
    more replicas for the same traffic. Micro-batching concurrent requests (or accepting a
    batch per request) spreads that overhead.

    ## How it's measured
    A batch-size sweep (1, 2, 4, ... up to the input size or `--max-batch`), each cell timed
    adaptively until its median is stable (McGill's 95% notch within 5% of the median) or
    a time cap. The sweep stops once two doublings each gain less than `batch-flat-gain`
    (1.10) or a cell's median exceeds `--latency-budget`. The recommended batch is the
    smallest one within the budget reaching 90% of the best rows/s. Fires when rows/s at the
    recommended batch is at least `batch-min-gain` (default 2.0) times rows/s at batch 1.
    Every cell's output is checked to hold one output per row it was given; when a cell's
    output does not (one value for a whole batch, a shape that depends on the batch size)
    or the first call's output is invalid (text or objects where numbers are expected),
    rows/s compares nothing and the rule is not judged (the report says why).

    ## Known problems
    Batching only helps a service that has several rows to process at once; a service with
    one request in flight at a time gains nothing. The sweep uses the input sample's rows.
    """

    code: ClassVar[str] = "PROF001"
    name: ClassVar[str] = "batching-would-help"
    severity: ClassVar[Severity] = Severity.LOW
    summary: ClassVar[str] = "Calling the model on batches would serve many more rows per second."
    fix: ClassVar[str] = (
        "Batch rows per model call: accept lists of instances per request, or micro-batch "
        "concurrent requests (a short queue with a size and time limit) up to the recommended "
        "batch size."
    )
    risk: ClassVar[str] = "Replicas spend their CPU on per-call overhead instead of rows."
    phases: ClassVar[tuple[str, ...]] = ("batch-sweep",)
    checklist: ClassVar[tuple[str, ...]] = ()

    def check(self, observations: ProfileObservations) -> Iterator[Finding]:
        sweep = observations.results.batch_sweep
        if sweep is None or not sweep.cells:
            return
        first = observations.results.first_call
        if (first is not None and first.output_invalid) or any(
            c.output_invalid for c in sweep.cells
        ):
            return  # rows/s of calls that do not answer their rows means nothing
        one = sweep.cell(1)
        best = sweep.cell(sweep.recommended_batch)
        if one is None or best is None or best.batch == 1:
            return
        gain = (best.rows_per_s or 0.0) / (one.rows_per_s or float("inf"))
        if gain < observations.thresholds.batch_min_gain:
            return
        budget = sweep.latency_budget_s
        within = f" within the {ms(budget)} latency budget" if budget else ""
        message = (
            f"batch {best.batch} serves {gain:.1f}x the rows/s of batch 1{within} "
            f"({best.rows_per_s or 0.0:.0f} vs {one.rows_per_s or 0.0:.0f} rows/s; "
            f"{ms(best.timing.median_s)} vs {ms(one.timing.median_s)} per call)"
        )
        evidence = observations.evidence(
            f"batch-size sweep {[c.batch for c in sweep.cells]}, stopped: {sweep.stopped}",
            recommended_batch=best.batch,
            gain=gain,
            rows_per_s_batch_1=one.rows_per_s,
            rows_per_s_recommended=best.rows_per_s,
            median_s_batch_1=one.timing.median_s,
            median_s_recommended=best.timing.median_s,
            calls_batch_1=one.timing.calls,
            calls_recommended=best.timing.calls,
        )
        yield self.finding(observations.location, message, evidence=[evidence])
