"""The rules of this domain, in catalogue order. Adding a rule = a new module + one line here.

Python service rules (SVC), explainability rules (XPL) and monitoring rules (MON). Most are
`PythonRule`s over the shared walk; MON002 and MON004 read YAML/JSON files as `ProjectRule`s.
"""

from __future__ import annotations

from infermedic.audit.python.rules.blocking_io_in_async_route import BlockingIoInAsyncRoute
from infermedic.audit.python.rules.blocking_model_call_in_async_route import (
    BlockingModelCallInAsyncRoute,
)
from infermedic.audit.python.rules.blocking_prediction_log import BlockingPredictionLog
from infermedic.audit.python.rules.debug_mode_enabled import DebugModeEnabled
from infermedic.audit.python.rules.explainer_built_per_request import ExplainerBuiltPerRequest
from infermedic.audit.python.rules.inference_without_no_grad import InferenceWithoutNoGrad
from infermedic.audit.python.rules.model_call_under_global_lock import ModelCallUnderGlobalLock
from infermedic.audit.python.rules.model_load_in_request_path import ModelLoadInRequestPath
from infermedic.audit.python.rules.model_loaded_on_first_request import (
    ModelLoadedOnFirstRequest,
)
from infermedic.audit.python.rules.no_heartbeat_alert import NoHeartbeatAlert
from infermedic.audit.python.rules.no_promotion_quality_gate import NoPromotionQualityGate
from infermedic.audit.python.rules.no_readiness_endpoint import NoReadinessEndpoint
from infermedic.audit.python.rules.outbound_call_without_timeout_in_route import (
    OutboundCallWithoutTimeoutInRoute,
)
from infermedic.audit.python.rules.request_body_not_validated import RequestBodyNotValidated
from infermedic.audit.python.rules.suspiciously_high_metric import SuspiciouslyHighMetric
from infermedic.audit.python.rules.tree_explainer_without_fallback import (
    TreeExplainerWithoutFallback,
)
from infermedic.audit.python.rules.uniform_psi_bins import UniformPsiBins
from infermedic.audit.python.rules.unpinned_model_uri import UnpinnedModelUri
from infermedic.rules import Rule

RULES: tuple[type[Rule], ...] = (
    BlockingModelCallInAsyncRoute,
    ModelLoadInRequestPath,
    BlockingIoInAsyncRoute,
    OutboundCallWithoutTimeoutInRoute,
    BlockingPredictionLog,
    RequestBodyNotValidated,
    UnpinnedModelUri,
    InferenceWithoutNoGrad,
    DebugModeEnabled,
    NoReadinessEndpoint,
    ModelLoadedOnFirstRequest,
    ModelCallUnderGlobalLock,
    ExplainerBuiltPerRequest,
    TreeExplainerWithoutFallback,
    UniformPsiBins,
    NoHeartbeatAlert,
    NoPromotionQualityGate,
    SuspiciouslyHighMetric,
)
