"""What each check that ran could actually see, read from its report.

A check can run and still not look at a cause: the probe's blocking phase needs a health
route, the model profile's thread sweep can be cut by the budget, py-spy can find no event
loop. The judge must know, so that silence from a phase that never ran is not taken as
evidence against a cause.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infermedic.diagnose.causes import TIMING_CODES, CheckKind
from infermedic.diagnose.hypotheses import Coverage
from infermedic.model import Report

# The profile phase (a key of the model profile's results) each PROF rule reads.
PROFILE_PHASES: dict[str, tuple[str, ...]] = {
    "PROF001": ("batch-sweep",),
    "PROF002": ("stages",),
    "PROF003": ("threads",),
    "PROF004": ("load",),
    "PROF005": ("memory",),
    "PROF006": ("options",),
    "PROF007": ("options",),
    "PROF008": ("determinism",),
    "PROF009": ("gc",),
    "PROF010": ("autograd",),
    "PROF011": ("gpu",),
    "PROF012": ("load",),
}
MIN_LIVE_SAMPLES = 50  # py-spy samples below which the stack shares mean little


def coverage_of(kind: CheckKind, report: Report, noisy: str | None) -> Coverage:
    """The coverage of one check that ran to completion."""
    underpowered = {
        n.rule: n.message for n in report.notifications if n.underpowered and n.rule is not None
    }
    judged: set[str] | None = set(report.rules_run)
    match kind:
        case CheckKind.AUDIT:
            # a crashed audit rule saw nothing: its silence is not evidence
            failed = report.measurements.get("rules_failed") or []
            judged = None
            if failed:
                judged = {r.code for r in _all_audit_rules()} - set(failed)
                for code in failed:
                    underpowered.setdefault(str(code), "the audit rule crashed")
        case CheckKind.MODEL:
            assert judged is not None
            for code, phases in PROFILE_PHASES.items():
                if code in judged and not any(_has(report.measurements, p) for p in phases):
                    judged.discard(code)
                    underpowered.setdefault(
                        code, f"the profile's {'/'.join(phases)} phase did not run"
                    )
        case CheckKind.PROFILE:
            assert judged is not None
            live = report.measurements.get("live")
            live = live if isinstance(live, Mapping) else {}
            samples = _total_samples(live)
            if samples < MIN_LIVE_SAMPLES:
                for code in ("PROF013", "PROF014"):
                    judged.discard(code)
                    underpowered.setdefault(
                        code, f"py-spy took {samples} samples (need {MIN_LIVE_SAMPLES})"
                    )
            elif live.get("loop_thread") is None:
                judged.discard("PROF013")
                underpowered.setdefault("PROF013", "no thread ran an event loop")
        case CheckKind.PROBE:
            lag = _generator_lag(report.measurements)
            if lag is not None:
                noisy = f"{noisy}; {lag}" if noisy else lag
                # A generator at its limit may have measured itself: its timing rules lacked
                # the power to see the service, so their silence is no evidence.
                for code in sorted(TIMING_CODES):
                    if code.startswith("LIVE"):
                        underpowered.setdefault(code, lag)
        case CheckKind.DRIFT | CheckKind.REGISTRY:
            pass
    return Coverage(
        kind=kind,
        judged=frozenset(judged) if judged is not None else None,
        underpowered=underpowered,
        noisy=noisy,
    )


def _has(measurements: Mapping[str, Any], phase: str) -> bool:
    value = measurements.get(phase)
    return isinstance(value, Mapping) and bool(value) and "error" not in value


def _total_samples(live: Mapping[str, Any]) -> int:
    for key in ("samples", "total_samples", "sample_count"):
        value = live.get(key)
        if isinstance(value, int | float):
            return int(value)
        if isinstance(value, Mapping):
            total = value.get("total")
            if isinstance(total, int | float):
                return int(total)
    threads = live.get("threads")
    if isinstance(threads, list):
        return sum(int(t.get("samples", 0)) for t in threads if isinstance(t, Mapping))
    return MIN_LIVE_SAMPLES  # unknown layout: do not claim a lack of power we cannot see


def _generator_lag(measurements: Mapping[str, Any]) -> str | None:
    """The probe's own load generator fell behind its schedule, or was saturated (its own CPU
    or event-loop lag) in any phase: its timings carry its own limit."""
    load = measurements.get("load")
    if isinstance(load, Mapping) and not load.get("percentiles_trustworthy", True):
        late = load.get("late_send_fraction")
        lag = load.get("max_send_lag_ms")
        return (
            f"the load generator fell behind its schedule ({_pct(late)} of sends late, "
            f"up to {lag} ms)"
        )
    generator = measurements.get("generator")
    if isinstance(generator, Mapping) and generator.get("saturated"):
        phases = generator.get("phases")
        busy = (
            [n for n, s in phases.items() if isinstance(s, Mapping) and s.get("saturated")]
            if isinstance(phases, Mapping)
            else []
        )
        return f"the load generator was saturated ({', '.join(busy) or 'some phase'})"
    return None


def _pct(value: Any) -> str:
    return f"{value:.0%}" if isinstance(value, int | float) else "some"


def _all_audit_rules() -> list[Any]:
    from infermedic.rules import Registry

    return list(Registry.default())
