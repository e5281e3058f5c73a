"""The rules of this domain, in catalogue order. Adding a rule = a new module + one line here."""

from __future__ import annotations

from infermedic.probe.rules.auth_not_enforced import AuthNotEnforced
from infermedic.probe.rules.cold_start import ColdStart
from infermedic.probe.rules.contract_endpoint_missing import ContractEndpointMissing
from infermedic.probe.rules.errors_under_load import ErrorsUnderLoad
from infermedic.probe.rules.event_loop_blocked import EventLoopBlocked
from infermedic.probe.rules.memory_growth_under_load import MemoryGrowthUnderLoad
from infermedic.probe.rules.model_version_mismatch import ModelVersionMismatch
from infermedic.probe.rules.nondeterministic_prediction import NondeterministicPrediction
from infermedic.probe.rules.serialized_inference import SerializedInference
from infermedic.probe.rules.server_error_on_bad_input import ServerErrorOnBadInput
from infermedic.probe.rules.stage_dominates_latency import StageDominatesLatency
from infermedic.probe.rules.tail_latency_spikes import TailLatencySpikes
from infermedic.rules import Rule

RULES: tuple[type[Rule], ...] = (
    EventLoopBlocked,
    SerializedInference,
    ColdStart,
    TailLatencySpikes,
    ServerErrorOnBadInput,
    NondeterministicPrediction,
    ModelVersionMismatch,
    MemoryGrowthUnderLoad,
    AuthNotEnforced,
    ContractEndpointMissing,
    ErrorsUnderLoad,
    StageDominatesLatency,
)
