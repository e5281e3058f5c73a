"""The demo scenarios: one healthy churn service and twelve with one planted fault each.

`SCENARIOS` maps a scenario name to its `Scenario` metadata; `repository.write_scenario`
writes the scenario as a small, readable repository:

```
DIR/
  app/main.py               the service (FastAPI); helpers beside it where the fault hides
  app/churn.py              synthetic data, request schema, the model trained at start-up
  requirements.txt          no `==` pins
  Dockerfile                one server process, no model copied in
  k8s/deployment.yaml       distinct liveness and readiness probes
  k8s/hpa.yaml              scales on CPU
  data/reference.parquet    the training sample with label and model output
  scenario.json             this module's metadata for the scenario
  README.md                 the symptom and how to run it
```

Importing this module is cheap (no pandas or scikit-learn) so `infermedic demo list` is fast.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from infermedic.diagnose.categories import Category
from infermedic.errors import InputError

__all__ = [
    "SCENARIOS",
    "Scenario",
    "TrafficProfile",
    "get_scenario",
    "list_scenarios",
]

SCENARIO_FILE = "scenario.json"
TEMPLATE_PACKAGE = "infermedic.demo.templates"
_BASE_MODULES = ("__init__", "churn", "ops", "prediction_log", "validation")
# `infermedic.instrument` provides health, metrics and the prediction log.
_INSTRUMENTED_BASE = ("__init__", "churn", "validation")


class TrafficProfile(StrEnum):
    """Where `infermedic demo traffic` draws request bodies from."""

    REFERENCE = "reference"  # the training distribution
    DRIFTED = "drifted"  # shifted numeric features and a new `plan` category


@dataclass(frozen=True, kw_only=True)
class Scenario:
    """One demo service and the fault planted in it.

    `expected_codes` are the rule codes a full diagnosis should raise on it: static codes
    (`SVC`, `XPL` …) found in `fault_files`, and measured ones (`LIVE`, `DRIFT`). `modules`
    maps template modules under `infermedic/demo/templates/app/` to the paths they are
    written to.
    """

    name: str
    fault: str
    symptom: str
    category: Category | None  # None: the healthy scenario
    expected_codes: tuple[str, ...]
    fault_files: tuple[str, ...]
    modules: tuple[tuple[str, str], ...]
    liveness_path: str = "/health"
    readiness_path: str = "/ready"
    predict_path: str = "/predict"
    # the request `demo --fix` measures before and after: where the fault is (default: the
    # plain prediction); the explainer is only built for `?explain=true`
    fault_request: str | None = None
    metrics_path: str = "/metrics"
    version_path: str = "/version"
    pinned_model_version: str = "3"
    served_model_version: str = "3"
    traffic: TrafficProfile = TrafficProfile.REFERENCE
    extra_requirements: tuple[str, ...] = ()
    # One BLAS/OpenMP thread per server process: the pod's CPU limit is the budget, and
    # several math threads per request oversubscribe it (PROF's thread check explains why).
    env: tuple[tuple[str, str], ...] = (("OMP_NUM_THREADS", "1"), ("OPENBLAS_NUM_THREADS", "1"))
    prediction_log_dir: str = "logs"
    reference_path: str = "data/reference.parquet"

    @property
    def is_healthy(self) -> bool:
        return not self.expected_codes

    @property
    def static_codes(self) -> tuple[str, ...]:
        """Codes `infermedic audit` should find in the written repository."""
        return tuple(c for c in self.expected_codes if not c.startswith(("LIVE", "DRIFT")))

    @property
    def measured_codes(self) -> tuple[str, ...]:
        """Codes only a running service (`LIVE`) or its data (`DRIFT`) can show."""
        return tuple(c for c in self.expected_codes if c.startswith(("LIVE", "DRIFT")))

    def metadata(self) -> dict[str, Any]:
        """The JSON object written to `scenario.json`."""
        return {
            "name": self.name,
            "fault": self.fault,
            "symptom": self.symptom,
            "category": self.category.value if self.category is not None else "none",
            "expected_codes": list(self.expected_codes),
            "static_codes": list(self.static_codes),
            "measured_codes": list(self.measured_codes),
            "fault_files": list(self.fault_files),
            "paths": {
                "predict": self.predict_path,
                "liveness": self.liveness_path,
                "readiness": self.readiness_path,
                "metrics": self.metrics_path,
                "version": self.version_path,
            },
            "pinned_model_version": self.pinned_model_version,
            "served_model_version": self.served_model_version,
            "traffic": self.traffic.value,
            "prediction_log_dir": self.prediction_log_dir,
            "reference": self.reference_path,
            "env": dict(self.env),
        }


def _modules(
    main: str, *helpers: str, base: tuple[str, ...] = _BASE_MODULES
) -> tuple[tuple[str, str], ...]:
    written = [(module, f"app/{module}.py") for module in (*base, *helpers)]
    return (*written, (main, "app/main.py"))


_SCENARIO_LIST = (
    Scenario(
        name="healthy",
        fault="none: model trained and warmed up before ready, inference off the event loop, "
        "prediction log off the request path",
        symptom="routine check before launch: is anything wrong with latency or predictions?",
        category=None,
        expected_codes=(),
        fault_files=(),
        modules=_modules("main_healthy", "scoring", base=_INSTRUMENTED_BASE),
        liveness_path="/livez",
        readiness_path="/readyz",
        extra_requirements=("infermedic",),
    ),
    Scenario(
        name="blocking-predict",
        fault="sync `predict_proba` called inside an `async def` route, through a helper, "
        "blocks the event loop",
        symptom="p99 latency spikes under load, and even /health times out",
        category=Category.SPIKES,
        expected_codes=("SVC001", "LIVE001"),
        fault_files=("app/main.py", "app/scoring.py"),
        modules=_modules("main_blocking_predict", "scoring"),
    ),
    Scenario(
        name="load-per-request",
        fault="`joblib.load` of a 10 MB model inside the route, on every request",
        symptom="every prediction is slow, even with a single user",
        category=Category.SLOW,
        expected_codes=("SVC002",),
        fault_files=("app/main.py",),
        modules=_modules("main_load_per_request", "scoring"),
    ),
    Scenario(
        name="explainer-per-request",
        fault="the explainer (k-means background summary, as shap's KernelExplainer wants) "
        "is built inside the route for every `?explain=true` request",
        symptom="requests with explain=true take hundreds of milliseconds",
        category=Category.SLOW,
        expected_codes=("XPL001",),
        fault_files=("app/main.py", "app/explain.py"),
        modules=_modules("main_explainer_per_request", "scoring", "explain"),
        fault_request="/predict?explain=true",
    ),
    Scenario(
        name="blocking-log",
        fault="each prediction is shipped synchronously to a slow log collector from the "
        "`async def` route, blocking the event loop",
        symptom="latency went up for everyone after we added prediction logging",
        category=Category.SLOW,
        expected_codes=("SVC005", "SVC003", "LIVE001"),
        fault_files=("app/main.py", "app/prediction_sink.py"),
        modules=_modules("main_blocking_log", "scoring", "prediction_sink", "dev_log_collector"),
    ),
    Scenario(
        name="slow-upstream",
        fault="a feature-store call without a timeout in the route; the store is slow on a "
        "few percent of calls",
        symptom="p99 latency spikes while p50 looks fine",
        category=Category.SPIKES,
        expected_codes=("SVC004", "LIVE004"),
        fault_files=("app/enrichment.py",),
        modules=_modules("main_slow_upstream", "scoring", "enrichment", "dev_feature_store"),
    ),
    Scenario(
        name="memory-leak",
        fault="a per-request cache keyed by request id keeps ~100 KB per request forever",
        symptom="pods are OOM-killed every few hours; memory only ever goes up",
        category=Category.MEMORY,
        expected_codes=("LIVE008",),
        fault_files=("app/similar_customers.py",),
        modules=_modules("main_memory_leak", "scoring", "similar_customers"),
    ),
    Scenario(
        name="cold-start",
        fault="no warm-up: the model is prepared by the first request while /ready already "
        "answers 200",
        symptom="the first requests after every deploy are very slow or time out",
        category=Category.SPIKES,
        expected_codes=("SVC011", "LIVE003"),
        fault_files=("app/main.py",),
        modules=_modules("main_cold_start", "scoring"),
    ),
    Scenario(
        name="preprocessing-skew",
        fault="serving scales features by hand with stale constants instead of the fitted "
        "pipeline; inputs are fine, predictions shift",
        symptom="since the serving rewrite the model flags far more customers as churners",
        category=Category.WRONG,
        expected_codes=("DRIFT002",),
        fault_files=("app/features.py",),
        modules=_modules("main_preprocessing_skew", "features"),
    ),
    Scenario(
        name="input-drift",
        fault="none in the service: production customers come from a shifted population "
        "(newer, younger, pricier plans, a new `enterprise` plan)",
        symptom="accuracy dropped over the last weeks",
        category=Category.ACCURACY,
        expected_codes=("DRIFT001", "DRIFT003", "DRIFT007"),
        fault_files=(),
        modules=_modules("main_healthy", "scoring", base=_INSTRUMENTED_BASE),
        liveness_path="/livez",
        readiness_path="/readyz",
        extra_requirements=("infermedic",),
        traffic=TrafficProfile.DRIFTED,
    ),
    Scenario(
        name="version-mismatch",
        fault="the service loads `models:/churn/latest` (version 4) while the deployment "
        "pins version 3",
        symptom="predictions changed although we did not deploy a new model",
        category=Category.WRONG,
        expected_codes=("SVC007", "LIVE007"),
        fault_files=("app/main.py",),
        modules=_modules("main_version_mismatch", "scoring", "registry"),
        served_model_version="4",
    ),
    Scenario(
        name="no-validation",
        fault="the route takes a raw dict, so malformed input fails inside the model as a 500",
        symptom="intermittent 500 errors from /predict",
        category=Category.FAILURES,
        expected_codes=("SVC006", "LIVE005"),
        fault_files=("app/main.py",),
        modules=_modules("main_no_validation", base=("__init__", "churn", "ops", "prediction_log")),
    ),
    Scenario(
        name="global-lock",
        fault="one `threading.Lock` around the model and its ~50 ms uncertainty band "
        "serialises all requests",
        symptom="latency grows with every concurrent user and throughput never goes up",
        category=Category.SLOW,
        expected_codes=("SVC012", "LIVE002"),
        fault_files=("app/main.py",),
        modules=_modules("main_global_lock", "scoring", "uncertainty"),
    ),
)

SCENARIOS: dict[str, Scenario] = {scenario.name: scenario for scenario in _SCENARIO_LIST}


def list_scenarios() -> list[Scenario]:
    """Every scenario, the healthy one first."""
    return list(SCENARIOS.values())


def get_scenario(name: str | Scenario) -> Scenario:
    """The scenario called `name`; an `InputError` naming the known ones otherwise."""
    if isinstance(name, Scenario):
        return name
    try:
        return SCENARIOS[name]
    except KeyError:
        raise InputError(
            f"unknown demo scenario {name!r}",
            hint=f"choose one of: {', '.join(SCENARIOS)}",
        ) from None


def read_scenario_metadata(directory: Path | str) -> dict[str, Any]:
    """The `scenario.json` of a written scenario repository."""
    path = Path(directory) / SCENARIO_FILE
    try:
        loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(
            f"{path} is not a demo scenario file: {exc}",
            hint="write one with `infermedic demo write SCENARIO DIR`",
        ) from exc
    return loaded
