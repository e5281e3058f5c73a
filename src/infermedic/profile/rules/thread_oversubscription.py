"""PROF003: a parallelism setting (n_jobs, BLAS/OpenMP, ORT, torch, booster threads) slows calls."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from infermedic.model import Finding, Severity
from infermedic.profile.config import ProfileThresholds
from infermedic.profile.context import ProfileObservations, ProfileRule, ms
from infermedic.profile.results import ThreadRow, ThreadsResult


class ThreadOversubscription(ProfileRule):
    """## What it does
    Checks whether the model's parallelism as loaded (`n_jobs` of an estimator, BLAS/OpenMP
    thread pools, ONNX Runtime intra-op threads, torch threads, XGBoost `nthread`, LightGBM
    `num_threads`) is slower than fewer workers on the cores this process may really use.

    ## Why is this bad?
    `n_jobs=-1` starts a worker pool on every call, which costs milliseconds at batch 1, and
    threads beyond the cgroup CPU quota only add contention: with several server workers per
    pod, workers x threads exceeds the cores and every request waits for CPU.

    ## How it's measured
    The cores available come from the CPU affinity mask and the cgroup quota (`cpu.max`),
    not `os.cpu_count()`. Each setting is varied alone (the loaded value, 1, the core
    count), at batch 1 and at the recommended batch, each cell timed adaptively until
    stable. Fires when a setting with fewer workers than the loaded one is at least
    `thread-min-speedup` (default 1.2) times faster in each of two passes (every setting is
    timed forward, then in reverse order) and the cells' interquartile ranges do not
    overlap.

    The sweep also measures the CPU that other processes used on this process's cores
    while it ran. A busy host is biased against more threads: when the others used at
    least `thread-busy-host-cores` (default 0.5) and left fewer cores than the setting as
    loaded has workers, the speed-up is the host's as much as the model's, and it is a note
    ("re-run on a quiet host"), not a finding.

    ## Options
    `thread-min-speedup`, `thread-busy-host-cores` in `[tool.infermedic.profile]`.
    """

    code: ClassVar[str] = "PROF003"
    name: ClassVar[str] = "thread-oversubscription"
    severity: ClassVar[Severity] = Severity.MEDIUM
    summary: ClassVar[str] = "The model's parallelism as loaded is slower than fewer workers."
    fix: ClassVar[str] = (
        "Set the faster value when the model is loaded (e.g. `model.set_params(n_jobs=1)`, "
        "`threadpoolctl.threadpool_limits(1)`, ONNX Runtime `intra_op_num_threads`), and keep "
        "server workers x threads within the pod's CPU limit."
    )
    risk: ClassVar[str] = "Calls wait for CPU and for pool start-up instead of computing."
    phases: ClassVar[tuple[str, ...]] = ("threads",)

    def check(self, observations: ProfileObservations) -> Iterator[Finding]:
        threads = observations.results.threads
        if threads is None:
            return
        limits = observations.thresholds
        for dimension, rows in threads.by_dimension().items():
            loaded = next((r for r in rows if r.as_loaded), None)
            if loaded is None:
                continue
            best, _ = _judge(
                loaded, rows, limits.thread_min_speedup, _busy_host(threads, loaded, limits)
            )
            if best is None:
                continue
            speedup, row, batch = best
            base = loaded.timings[batch]
            faster = row.timings[batch]
            message = (
                f"{row.setting} is {speedup:.1f}x faster than {loaded.setting} as loaded "
                f"at batch {batch} ({ms(faster.median_s)} vs "
                f"{ms(base.median_s)}) on {threads.cores} available core(s)"
            )
            evidence = observations.evidence(
                f"{dimension} sweep at batches {list(threads.batches)}",
                dimension=dimension,
                loaded_setting=loaded.setting,
                faster_setting=row.setting,
                batch=int(batch),
                speedup=speedup,
                loaded_median_s=base.median_s,
                faster_median_s=faster.median_s,
                loaded_calls=base.calls,
                faster_calls=faster.calls,
                cores=threads.cores,
                host_busy_cores=threads.host_busy_cores,
            )
            yield self.finding(
                observations.location,
                message,
                evidence=[evidence],
                fingerprint_key=dimension,
                fix=f"Load the model with {row.setting}. {self.fix}",
            )


def _busy_host(threads: ThreadsResult, loaded: ThreadRow, limits: ProfileThresholds) -> str | None:
    """Why the host, not the model, may explain a speed-up from fewer workers: other
    processes used enough of the cores that the loaded setting's workers could not each
    have one. None when the host was quiet enough, or its load was not measured."""
    others = threads.host_busy_cores
    if others is None or others < limits.thread_busy_host_cores:
        return None
    if loaded.workers <= threads.cores - others:
        return None
    return (
        f"other processes used {others:.1f} of the {threads.cores} core(s) while the sweep "
        f"ran, so the {loaded.workers} worker(s) as loaded could not each have a core; "
        "re-run on a quiet host"
    )


def _judge(
    loaded: ThreadRow, rows: list[ThreadRow], min_speedup: float, busy: str | None = None
) -> tuple[tuple[float, ThreadRow, str] | None, str | None]:
    """The fastest setting with fewer workers that beats the loaded one beyond noise, or
    None and why the largest measured speed-up was not enough (None when there was none).
    `busy` says why the host could explain any speed-up (then none is enough)."""
    best: tuple[float, ThreadRow, str] | None = None
    rejected: tuple[float, str] | None = None
    for row in rows:
        if row.workers >= loaded.workers:
            continue
        for batch, timing in row.timings.items():
            base = loaded.timings.get(batch)
            if base is None or timing.median_s <= 0:
                continue
            speedup = base.median_s / timing.median_s
            if speedup < min_speedup:
                continue
            where = f"{row.setting} {speedup:.1f}x faster at batch {batch}"
            reason = None
            # Only a difference beyond the spread counts: the faster cell's upper
            # quartile must sit below the loaded cell's lower quartile (unknown quartiles
            # cannot show that).
            if timing.q3_s is None or base.q1_s is None or timing.q3_s >= base.q1_s:
                reason = f"{where}, within the spread of the timings (quartiles overlap)"
            else:
                # And each of the two passes must show the speed-up on its own, so a
                # burst of background load during one cell cannot make a finding.
                slowest = _slowest_pass_speedup(loaded, row, batch)
                passes = min(len(loaded.pass_timings or ()), len(row.pass_timings or ()))
                if row.pass_timings is not None and passes < 2:
                    reason = f"{where}, timed in one pass only (the sweep was cut short)"
                elif slowest < min_speedup:
                    reason = f"{where}, but only {slowest:.1f}x in one of the two passes"
                elif busy is not None:
                    reason = f"{where}, but {busy}"
            if reason is not None:
                if rejected is None or speedup > rejected[0]:
                    rejected = (speedup, reason)
            elif best is None or speedup > best[0]:
                best = (speedup, row, batch)
    if best is not None:
        return best, None
    return None, rejected[1] if rejected else None


def unjudged_thread_effects(threads: ThreadsResult, limits: ProfileThresholds) -> list[str]:
    """Why each measured thread speed-up of at least the threshold made no PROF003."""
    reasons = []
    min_speedup = limits.thread_min_speedup
    for dimension, rows in threads.by_dimension().items():
        loaded = next((r for r in rows if r.as_loaded), None)
        if loaded is None:
            continue
        best, reason = _judge(loaded, rows, min_speedup, _busy_host(threads, loaded, limits))
        if best is None and reason is not None:
            reasons.append(
                f"threads: {dimension}: measured {reason}; not reported as PROF003 "
                f"(it needs {min_speedup:g}x beyond the spread in each of two passes, on "
                "a host that left the loaded workers their cores)"
            )
    return reasons


def _slowest_pass_speedup(loaded: ThreadRow, row: ThreadRow, batch: str) -> float:
    """The smaller of the per-pass speed-ups (the sweep times every setting twice)."""
    pairs = zip(loaded.pass_timings or (), row.pass_timings or (), strict=False)
    speedups = [
        base[batch].median_s / other[batch].median_s
        for base, other in pairs
        if batch in base and batch in other and other[batch].median_s > 0
    ]
    if len(speedups) < 2 and row.pass_timings is not None:
        return 1.0  # a sweep cut short by the budget timed it once: not enough to judge
    return min(speedups) if speedups else float("inf")
