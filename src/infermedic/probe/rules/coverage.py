"""Which measurement each LIVE rule needs before its silence means anything.

A rule whose phase did not run (not planned, skipped because the known-good request failed,
no health endpoint, interrupted) did not look, so it is left out of `rules_run` and a
notification says why: diagnose then calls its causes "not tested" rather than "refuted".
Kept in one table beside the rules; the rule runner asks it before each rule (`unjudged`).
"""

from __future__ import annotations

from collections.abc import Callable

from infermedic.probe.observations import ProbeObservations

MIN_MEMORY_SAMPLES = 6  # as LIVE008 needs


def _blocking(ctx: ProbeObservations) -> str | None:
    if ctx.blocking is None:
        return "the event-loop blocking check did not run (not planned, or no health endpoint)"
    return None


def _load(ctx: ProbeObservations) -> str | None:
    return "the open-loop load check did not run" if ctx.load is None else None


def _contract_prediction(ctx: ProbeObservations) -> str | None:
    contract = ctx.contract
    if contract is None:
        return "the contract check did not run"
    if contract.prediction is None or not contract.prediction.ok:
        return "no known-good prediction request succeeded"
    return None


def _contract(ctx: ProbeObservations) -> str | None:
    return "the contract check did not run" if ctx.contract is None else None


def _robustness(ctx: ProbeObservations) -> str | None:
    return "the robustness check did not run" if not ctx.robustness else None


def _repeats(ctx: ProbeObservations) -> str | None:
    if _contract_prediction(ctx) is not None or not ctx.repeats:
        return "the same request was not repeated (robustness check not run)"
    return None


def _memory(ctx: ProbeObservations) -> str | None:
    # LIVE008 judges the load run's samples (those taken while one body was repeated) and,
    # on its own, the rounds of identical and distinct bodies; either is enough
    end = ctx.identical_load_end_s
    under_load = [s for s in ctx.memory if end is None or s.at_s <= end]
    distinct_rounds = sum(p.kind == "distinct" for p in ctx.body_memory)
    if len(under_load) < MIN_MEMORY_SAMPLES and distinct_rounds < 2:
        return (
            f"{len(under_load)} resident-memory samples under load (need "
            f"{MIN_MEMORY_SAMPLES}) and {distinct_rounds} distinct-body rounds (need 2): no "
            "/metrics process memory and no local pid, or no load phase"
        )
    return None


def _any_load(ctx: ProbeObservations) -> str | None:
    if ctx.load is None and not ctx.sweep and ctx.blocking is None:
        return "no load phase ran"
    return None


NEEDS: dict[str, Callable[[ProbeObservations], str | None]] = {
    "LIVE001": _blocking,
    "LIVE002": _blocking,
    "LIVE003": _contract_prediction,
    "LIVE004": _load,
    "LIVE005": _robustness,
    "LIVE006": _repeats,
    "LIVE007": _contract,
    "LIVE008": _memory,
    "LIVE009": _contract,
    "LIVE010": _contract,
    "LIVE011": _any_load,
    "LIVE012": _load,
}


def unjudged_reason(code: str, ctx: ProbeObservations) -> str | None:
    """Why `code` cannot judge this run's measurements, or None when it can."""
    need = NEEDS.get(code)
    return need(ctx) if need is not None else None
