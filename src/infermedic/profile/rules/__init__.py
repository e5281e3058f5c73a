"""The rules of this domain, in catalogue order. Adding a rule = a new module + one line here."""

from __future__ import annotations

from infermedic.profile.context import ProfileObservations
from infermedic.profile.rules.artifact_version_skew import ArtifactVersionSkew
from infermedic.profile.rules.autograd_left_on import AutogradLeftOn
from infermedic.profile.rules.batching_would_help import BatchingWouldHelp
from infermedic.profile.rules.faster_runtime_available import FasterRuntimeAvailable
from infermedic.profile.rules.gc_pauses_in_call_path import GcPausesInCallPath
from infermedic.profile.rules.gpu_bound import GpuTransferOrLaunchBound
from infermedic.profile.rules.lock_contention import LockContention
from infermedic.profile.rules.lower_precision_available import LowerPrecisionAvailable
from infermedic.profile.rules.memory_growth_across_calls import MemoryGrowthAcrossCalls
from infermedic.profile.rules.nondeterministic_output import NondeterministicOutput
from infermedic.profile.rules.slow_load_or_first_call import SlowLoadOrFirstCall
from infermedic.profile.rules.stage_dominates_call import StageDominatesCall
from infermedic.profile.rules.thread_oversubscription import ThreadOversubscription
from infermedic.profile.rules.work_in_event_loop_thread import WorkInEventLoopThread
from infermedic.rules import Rule

RULES: tuple[type[Rule], ...] = (
    BatchingWouldHelp,
    StageDominatesCall,
    ThreadOversubscription,
    SlowLoadOrFirstCall,
    MemoryGrowthAcrossCalls,
    FasterRuntimeAvailable,
    LowerPrecisionAvailable,
    NondeterministicOutput,
    GcPausesInCallPath,
    AutogradLeftOn,
    GpuTransferOrLaunchBound,
    ArtifactVersionSkew,
    WorkInEventLoopThread,
    LockContention,
)

# The rules `profile --pid` judges a live py-spy summary with; a model profile, the others.
LIVE_RULES: tuple[type[Rule], ...] = (WorkInEventLoopThread, LockContention)
MODEL_RULES: tuple[type[Rule], ...] = tuple(r for r in RULES if r not in LIVE_RULES)


def unjudged_reason(code: str, observations: ProfileObservations) -> str | None:
    """Why the rule `code` cannot judge these observations (none of its phases ran), for
    the runner's coverage; None when it can."""
    rule = next((r for r in RULES if r.code == code), None)
    phases: tuple[str, ...] = getattr(rule, "phases", ())
    if not phases:
        return None
    if "live" in phases:
        return None if observations.live is not None else "it judges a live service (--pid)"
    results = observations.results
    if any(results.ran(phase) for phase in phases):
        return None
    if "autograd" in phases and results.load is not None and results.load.kind != "torch":
        return "it applies to torch models only"
    if phases == ("gpu",):
        return "no accelerator was measured (a torch model on CUDA; see --device)"
    return f"the {' / '.join(phases)} phase did not run"
