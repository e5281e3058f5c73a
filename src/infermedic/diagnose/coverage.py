"""What each check that ran could actually see, read from its report.

A check can run and still not look at a cause: the probe's blocking phase needs a health
route, the model profile's thread sweep can be cut by the budget, py-spy can find no event
loop. The judge must know, so that silence from a phase that never ran is not taken as
evidence against a cause.
"""

from __future__ import annotations

from infermedic.diagnose.causes import TIMING_CODES, CheckKind
from infermedic.diagnose.hypotheses import Coverage
from infermedic.diagnose.measured import (
    MIN_LIVE_SAMPLES,
    ProbeMeasured,
    ProfileMeasured,
    RunStatus,
    static_no_event_loop,
)
from infermedic.model import Report
from infermedic.rules import Registry

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


def coverage_of(kind: CheckKind, report: Report, noisy: str | None) -> Coverage:
    """The coverage of one check that ran to completion."""
    underpowered = {
        n.rule: n.message for n in report.notifications if n.underpowered and n.rule is not None
    }
    judged: set[str] | None = set(report.rules_run)
    no_loop: str | None = None
    match kind:
        case CheckKind.AUDIT:
            # a crashed audit rule saw nothing: its silence is not evidence; nor is that of
            # a rule the audit did not run (`--select`, or a recording made before the rule
            # existed), when the report lists the rules it ran
            failed = RunStatus.of(report).rules_failed
            judged = None if not report.rules_run else set(report.rules_run) - set(failed)
            no_loop = static_no_event_loop(report)
            if failed and judged is None:
                judged = {r.code for r in Registry.default()} - set(failed)
            for code in failed:
                underpowered.setdefault(code, "the audit rule crashed")
        case CheckKind.MODEL:
            assert judged is not None
            profile = ProfileMeasured.of(report)
            for code, phases in PROFILE_PHASES.items():
                if code in judged and not any(profile.ran(p) for p in phases):
                    judged.discard(code)
                    underpowered.setdefault(
                        code, f"the profile's {'/'.join(phases)} phase did not run"
                    )
        case CheckKind.PROFILE:
            assert judged is not None
            live = ProfileMeasured.of(report).live
            # no sampling block at all is a layout we cannot read: claim no lack of power
            samples = live.samples if live is not None else MIN_LIVE_SAMPLES
            if samples < MIN_LIVE_SAMPLES:
                for code in ("PROF013", "PROF014"):
                    judged.discard(code)
                    underpowered.setdefault(
                        code, f"py-spy took {samples} samples (need {MIN_LIVE_SAMPLES})"
                    )
            elif live is None or not live.loop_thread:
                judged.discard("PROF013")
                underpowered.setdefault("PROF013", "no thread ran an event loop")
                no_loop = live.no_event_loop() if live is not None else None
        case CheckKind.PROBE:
            lag = ProbeMeasured.of(report).generator_lag()
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
        no_event_loop=no_loop,
    )
