"""The known causes of each symptom: which findings support each, and what to do about it.

`hypotheses.py` judges them; this module is the catalogue, kept apart so a new cause is one
entry here with its codes, fix and prevention.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from infermedic.diagnose.router import Category


class CheckKind(enum.StrEnum):
    """The independent sources of evidence diagnose can run."""

    AUDIT = "audit"  # static: the repository
    PROBE = "probe"  # live: the running service
    DRIFT = "drift"  # data: reference vs current
    MODEL = "model"  # offline: the model artifact measured in a worker process
    PROFILE = "profile"  # live stacks of the service process (py-spy)
    REGISTRY = "registry"  # the model registry: what should serve, and the runs behind it

    @property
    def measured(self) -> bool:
        return self is not CheckKind.AUDIT


# The alerts named in prevention advice ship with infermedic; this says where to get them.
MONITORING = " (`infermedic monitoring DIR` writes it)"


@dataclass(frozen=True, kw_only=True)
class Cause:
    """One known cause: which findings support it, and what to do about it.

    `static` codes come from the audit; `confirming` codes are measured and confirm the cause
    on their own; `corroborating` codes are measured symptoms that many causes share (a slow
    tail has many parents), so they confirm the cause only together with its static evidence.
    """

    key: str
    title: str
    component: str
    categories: tuple[Category, ...]
    static: tuple[str, ...]
    confirming: tuple[str, ...]
    corroborating: tuple[str, ...] = ()
    long_term_fix: str
    prevention: tuple[str, ...]
    # a finding with one of these codes means another cause explains the evidence better
    excluded_by: tuple[str, ...] = ()
    # the more general cause this one is an instance of; when both are confirmed this one
    # names the root cause and the other its mechanism
    refines: str | None = None
    # the cause is work holding an event loop: a serving process measured to run none (py-spy)
    # rules it out, and a health check queueing behind predictions there is a busy pool of
    # synchronous workers instead
    needs_event_loop: bool = False

    @property
    def codes(self) -> tuple[str, ...]:
        return (*self.static, *self.confirming, *self.corroborating)

    def check_kinds(self) -> tuple[CheckKind, ...]:
        """The checks able to see this cause, in a stable order."""
        kinds = {check_for_code(code) for code in self.codes}
        return tuple(kind for kind in CheckKind if kind in kinds)


def check_for_code(code: str) -> CheckKind:
    """Which check produces findings with this code (by its domain prefix)."""
    prefix = code.rstrip("0123456789")
    if code in LIVE_PROFILE_CODES:
        return CheckKind.PROFILE
    if code in REGISTRY_CODES:
        return CheckKind.REGISTRY
    return {
        "LIVE": CheckKind.PROBE,
        "DRIFT": CheckKind.DRIFT,
        "PROF": CheckKind.MODEL,
    }.get(prefix, CheckKind.AUDIT)


# The profile codes that come from sampling the running service (`profile --pid`); the
# others come from measuring the model artifact offline (`profile MODEL`).
LIVE_PROFILE_CODES = frozenset({"PROF013", "PROF014"})
# The MON codes read from the model registry (`--registry-model`), not from the repository.
REGISTRY_CODES = frozenset({"MON005", "MON006", "MON007", "MON008", "MON009"})


CAUSES: tuple[Cause, ...] = (
    Cause(
        key="event-loop-blocking",
        title="Blocking work on the event loop (model call, I/O or Python)",
        component="serving code",
        categories=(Category.SLOW, Category.SPIKES, Category.FAILURES),
        static=("SVC001", "SVC003"),
        confirming=("LIVE001", "PROF013"),
        needs_event_loop=True,
        long_term_fix="Keep `async def` routes free of blocking work — the model call, sync "
        "I/O, and CPU-heavy Python alike (the evidence names what holds the loop): run it in a "
        "thread or process pool (or a dedicated inference server) and bound its concurrency.",
        prevention=(
            "alert `InferenceEventLoopBlocked`: event-loop lag p99 > 50 ms for 5 min" + MONITORING,
            "regression test: /health p99 stays flat while /predict is under load "
            "(`infermedic probe --checks blocking`)",
            "CI: `infermedic audit --select SVC001,SVC003 --fail-on high`",
        ),
    ),
    Cause(
        key="serialized-inference",
        title="Inference serialised behind one lock or worker",
        component="serving code",
        categories=(Category.SLOW, Category.SPIKES),
        static=("SVC012",),
        confirming=("PROF014",),
        corroborating=("LIVE002",),
        long_term_fix="Remove the global lock (most estimators are safe to call concurrently) "
        "or give each worker its own model copy; size the thread pool to the cores.",
        prevention=(
            "load test in CI: throughput at concurrency 4 ≥ 1.5× concurrency 1",
            "alert `InferenceSlowStage` on the queue stage of `inference_stage_duration_seconds`"
            + MONITORING,
            "CI: `infermedic audit --select SVC012`",
        ),
        excluded_by=("LIVE001",),
    ),
    Cause(
        key="model-load-per-request",
        title="Model artifact loaded inside the request path",
        component="serving code",
        categories=(Category.SLOW, Category.SPIKES, Category.MEMORY),
        static=("SVC002",),
        confirming=(),
        corroborating=("LIVE004", "LIVE012", "LIVE003"),
        long_term_fix="Load the model once at start-up (lifespan handler) and keep it in app "
        "state; make /ready wait for it.",
        prevention=(
            "CI: `infermedic audit --select SVC002`",
            "alert on p50 latency above the model's offline inference time × 2",
        ),
    ),
    Cause(
        key="explainer-per-request",
        title="Explainer built per request",
        component="serving code",
        categories=(Category.SLOW, Category.SPIKES, Category.MEMORY),
        static=("XPL001",),
        confirming=(),
        corroborating=("LIVE004", "LIVE012"),
        long_term_fix="Build the explainer once at start-up with a fixed background sample; "
        "serve explanations from a separate, rate-limited endpoint or asynchronously.",
        prevention=(
            "CI: `infermedic audit --select XPL001`",
            "separate latency SLO for `?explain=true` requests",
        ),
    ),
    Cause(
        key="blocking-prediction-log",
        refines="event-loop-blocking",
        title="Prediction log written synchronously in the request path",
        component="serving code",
        categories=(Category.SLOW, Category.SPIKES),
        static=("SVC005",),
        confirming=(),
        corroborating=("LIVE001", "PROF013", "LIVE004", "LIVE012"),
        needs_event_loop=True,
        long_term_fix="Log predictions through a bounded queue and a background writer "
        "(`infermedic.instrument.PredictionLogger`), dropping and counting on overflow.",
        prevention=(
            "alerts `InferencePredictionLogDropping` and `InferencePredictionLogBacklog`"
            + MONITORING,
            "regression test: a hanging log sink does not slow /predict",
        ),
    ),
    Cause(
        key="slow-dependency",
        title="Slow upstream call without a timeout",
        component="dependency",
        categories=(Category.SPIKES, Category.SLOW, Category.FAILURES),
        static=("SVC004",),
        confirming=(),
        corroborating=("LIVE004", "LIVE012", "LIVE011"),
        long_term_fix="Give every outbound call a timeout, a pooled async client and a circuit "
        "breaker with a fallback (cached or default features).",
        prevention=(
            "alert `InferenceSlowStage`: a stage's p99 (`inference_stage_duration_seconds`)"
            + MONITORING,
            "CI: `infermedic audit --select SVC004`",
        ),
    ),
    Cause(
        key="cold-start",
        title="Cold start: traffic admitted before the model is warm",
        component="infrastructure",
        categories=(Category.SPIKES, Category.SLOW, Category.FAILURES),
        static=("SVC011", "SVC010", "K8S002", "K8S003"),
        confirming=("LIVE003",),
        corroborating=("PROF004",),
        long_term_fix="Load the model at start-up (not on the first request) and run a warm-up "
        "prediction before /ready answers 200; point the readiness probe at it.",
        prevention=(
            "regression test: the first request after start is within 2× of steady state",
            "alert on p99 latency in the first minute after a deploy",
            "CI: `infermedic audit --select SVC011,SVC010`",
        ),
    ),
    Cause(
        key="memory-leak",
        title="Memory grows with traffic (leak)",
        component="serving code",
        categories=(Category.MEMORY,),
        static=(),
        confirming=("LIVE008", "PROF005"),
        long_term_fix="Bound every per-request cache (`functools.lru_cache(maxsize=…)`, TTL "
        "caches), and keep request data out of module-level state.",
        prevention=(
            "alert `InferenceMemoryGrowth`: `process_resident_memory_bytes` slope over 1 h"
            + MONITORING,
            "soak test: RSS flat after 10k identical requests",
        ),
    ),
    Cause(
        key="worker-oversubscription",
        title="Too many workers or threads for the pod's CPU/memory",
        component="infrastructure",
        categories=(Category.MEMORY, Category.SLOW, Category.SPIKES),
        static=("DKR002", "K8S001"),
        confirming=("PROF003",),
        long_term_fix="One server worker per pod; let the autoscaler add pods on CPU or "
        "request rate; match BLAS/OpenMP threads to the CPU limit.",
        prevention=("CI: `infermedic audit --select DKR002,K8S001`",),
    ),
    Cause(
        key="missing-input-validation",
        title="Malformed input reaches the model (no validation)",
        component="serving code",
        categories=(Category.FAILURES, Category.WRONG),
        static=("SVC006",),
        confirming=("LIVE005",),
        long_term_fix="Validate the request body with a schema (pydantic model with types and "
        "ranges) so bad input is a 422, never a 500.",
        prevention=(
            "contract test: missing field, wrong type, NaN, empty body → 4xx",
            "alert `InferenceServerErrors`: 5xx share per route" + MONITORING,
        ),
    ),
    Cause(
        key="errors-under-load",
        title="Errors under concurrent load (resource exhaustion or races)",
        component="infrastructure",
        categories=(Category.FAILURES,),
        static=(),
        confirming=("LIVE011",),
        long_term_fix="Bound concurrency (admission control), size pools to limits, and make "
        "shared state thread-safe.",
        prevention=(
            "load test in CI at the expected peak rate; alert `InferenceServerErrors`" + MONITORING,
        ),
    ),
    Cause(
        key="model-version-mismatch",
        title="Serving a different model version than the one pinned",
        component="model",
        categories=(Category.WRONG, Category.ACCURACY),
        static=("SVC007",),
        confirming=("LIVE007",),
        long_term_fix="Pin the model URI to a version or alias, expose it in "
        "`inference_model_info`, and roll out with a version check.",
        prevention=(
            "alert `InferenceMultipleModelVersions`: `inference_model_info` shows two versions"
            + MONITORING,
            "deploy gate: `infermedic probe --expect-version`",
        ),
    ),
    Cause(
        key="registry-alias-moved",
        refines="model-version-mismatch",
        title="The registry alias moved: the served model changed without a deploy",
        component="model",
        categories=(Category.WRONG, Category.ACCURACY),
        static=(),
        confirming=("MON009",),
        corroborating=("LIVE007", "MON007"),
        long_term_fix="Resolve the alias to a version number at deploy time and pin it, so a "
        "promotion in the registry goes through a deploy (and a rollback is one too); report "
        "the version in `inference_model_info`.",
        prevention=(
            "alert when `inference_model_info` shows more than one version, or another than "
            "the alias's",
            "deploy gate: `infermedic probe URL --checks contract --registry-model NAME@ALIAS`",
        ),
    ),
    Cause(
        key="leaky-offline-evaluation",
        title="Promoted on an offline score that leakage inflated",
        component="model",
        categories=(Category.ACCURACY, Category.WRONG),
        static=("MON004",),
        confirming=("MON005",),
        long_term_fix="Re-evaluate on a time-based holdout with the leaking feature removed, "
        "and gate promotion on that score against the current champion.",
        prevention=(
            "promotion gate: reject runs whose primary metric is above 0.99 without review",
            "CI: `infermedic audit --select MON004`; the registry check MON005 before an "
            "alias moves",
        ),
    ),
    Cause(
        key="nondeterministic-prediction",
        title="Non-deterministic prediction for identical input",
        component="model",
        categories=(Category.WRONG,),
        static=(),
        confirming=("LIVE006", "PROF008"),
        long_term_fix="Fix seeds, disable dropout (`model.eval()`), and avoid data-dependent "
        "threading nondeterminism.",
        prevention=("contract test: the same input twice gives the same output",),
    ),
    Cause(
        key="preprocessing-skew",
        title="Training/serving skew in preprocessing",
        component="data",
        categories=(Category.WRONG, Category.ACCURACY),
        static=(),
        confirming=("DRIFT002",),
        long_term_fix="Serve the exact preprocessing artifact used in training (one saved "
        "Pipeline) instead of a hand-written transform.",
        prevention=(
            "regression test: the served model's output on a golden sample equals the "
            "training pipeline's",
            "monitor the prediction distribution against the reference (DRIFT002)",
        ),
        # when the inputs moved too, input drift explains the prediction shift better
        excluded_by=("DRIFT001", "DRIFT003", "DRIFT004", "DRIFT005", "DRIFT007"),
    ),
    Cause(
        key="input-drift",
        title="Input data drifted from the training distribution",
        component="data",
        categories=(Category.ACCURACY, Category.WRONG),
        static=(),
        confirming=("DRIFT001", "DRIFT003", "DRIFT004", "DRIFT005", "DRIFT007"),
        long_term_fix="Retrain on recent data (or reweight), and add drift monitoring with an "
        "alert per feature.",
        prevention=(
            "scheduled `infermedic drift` against the reference profile, alert on DRIFT001",
            "track the upstream data contract (schema, ranges, categories)",
        ),
    ),
    Cause(
        key="slow-preprocessing",
        title="Preprocessing or request decoding dominates the model call",
        component="serving code",
        categories=(Category.SLOW, Category.SPIKES),
        static=(),
        confirming=("PROF002",),
        long_term_fix="Vectorise the named stage (whole columns in numpy, not per-row Python), "
        "precompute what does not depend on the request, or move it out of the request path.",
        prevention=(
            "CI: `infermedic profile MODEL --quick --select PROF002 --fail-on medium`",
            "a `Server-Timing` stage for preprocessing, with its own latency budget",
        ),
    ),
    Cause(
        key="slow-model-execution",
        title="The model runs slower than it could (autograd, runtime, precision or GPU use)",
        component="model",
        categories=(Category.SLOW,),
        static=(),
        confirming=("PROF010", "PROF011", "PROF006", "PROF007"),
        long_term_fix="Serve the measured faster form: `model.eval()` with "
        "`torch.inference_mode()`, the ONNX Runtime or lower-precision model whose parity "
        "was checked, or batched GPU calls.",
        prevention=(
            "keep a latency budget per model version; profile each candidate before release",
        ),
    ),
    Cause(
        key="gc-pauses",
        title="Garbage-collection pauses inside model calls",
        component="model",
        categories=(Category.SPIKES,),
        static=(),
        confirming=("PROF009",),
        long_term_fix="Allocate less per call (reuse buffers, avoid per-row objects), and "
        "`gc.freeze()` after loading the model so its objects are not rescanned.",
        prevention=(
            "alert `InferenceTailToMedianRatio` (p99/p50); track `python_gc_collections_total`"
            + MONITORING,
        ),
    ),
    Cause(
        key="artifact-version-skew",
        title="Model artifact loaded with other library versions than it was saved with",
        component="model",
        categories=(Category.WRONG, Category.ACCURACY, Category.FAILURES),
        static=(),
        confirming=("PROF012", "MON008"),
        long_term_fix="Pin the serving image to the versions recorded with the artifact "
        "(MLmodel / requirements), or re-export the model with the serving versions.",
        prevention=("CI: load the artifact in the serving image and fail on PROF012",),
    ),
    Cause(
        key="schema-change",
        title="Input schema changed",
        component="data",
        categories=(Category.WRONG, Category.ACCURACY, Category.FAILURES),
        static=(),
        confirming=("DRIFT006",),
        long_term_fix="Version the input contract; validate it at the edge and in the logs.",
        prevention=("schema check in the data pipeline; alert on DRIFT006",),
    ),
)


# Measured codes whose effect is a time: a busy host (other processes on the cores, CPU
# steal, a lagging load generator) produces the same kind of effect, so one such reading
# confirms a cause alone only when its effect is beyond anything that noise makes (`Effect.
# large`); otherwise a second, independent source must agree. The other measured codes read
# a response, a version, a memory slope or a statistical test that host load cannot fake.
TIMING_CODES = frozenset(
    {
        "LIVE001",
        "LIVE002",
        "LIVE003",
        "LIVE004",
        "LIVE011",
        "LIVE012",
        "PROF001",
        "PROF002",
        "PROF003",
        "PROF004",
        "PROF006",
        "PROF007",
        "PROF009",
        "PROF011",
        "PROF013",
        "PROF014",
    }
)


def cause_by_key(key: str) -> Cause:
    for cause in CAUSES:
        if cause.key == key:
            return cause
    raise KeyError(key)
