"""Instrumentation for inference services: stage timers, metrics, health routes, prediction log.

A light module for services to import: it needs only the standard library and
prometheus_client (pyarrow only for Parquet prediction logs), never the rest of infermedic.

```python
from fastapi import FastAPI
from infermedic.instrument import PredictionLogger, Readiness, instrument, stage

readiness = Readiness()
predictions = PredictionLogger("logs/predictions")          # JSONL; format="parquet" too

@asynccontextmanager
async def lifespan(app):
    model = load_model()
    readiness.model_loaded()
    readiness.warm_up(model.predict, EXAMPLE_BATCH)          # one real prediction -> ready
    yield

api = FastAPI(lifespan=lifespan)

@api.post("/predict")
def predict(request: Features) -> Prediction:              # sync route: runs in a thread
    with stage("preprocess"):
        x = to_matrix(request)
    with stage("predict"):
        score = float(model.predict_proba(x)[0, 1])
    predictions.log(request.model_dump(), score > 0.5, outputs={"score": score})
    return Prediction(score=score)

app = instrument(api, model_name="churn", model_version="7", readiness=readiness,
                 prediction_logger=predictions)              # serve `app` with uvicorn
```

What the wrapped app does
-------------------------

- Every response carries `X-Request-ID` (the request's own if it sent a sane one, else a
  generated UUID hex; handlers read it with `current_request_id()`), the request's W3C
  `traceparent` echoed back when valid, and `Server-Timing: preprocess;dur=1.234,
  predict;dur=5.678, total;dur=7.345` (milliseconds; `total` is middleware entry to
  response start; a stage recorded twice in one request is summed).
- `stage(name)` works as `with`, `async with` and as a decorator on sync or async
  functions; it records into a ContextVar set per request, which Starlette's
  `run_in_threadpool`, `asyncio.to_thread` and new tasks copy, so stages recorded in a
  `def` route's worker thread reach the header.
- `GET /livez` answers 200 without I/O; `GET /readyz` answers 503 until the `Readiness`
  says the model is loaded *and* warmed up, then 200 (JSON body
  `{"ready", "model_loaded", "warmed_up"}`); `legacy_health=True` also answers `/health`
  and `/ready`. `GET /metrics` serves Prometheus text (merged across workers when
  `PROMETHEUS_MULTIPROC_DIR` is set). These routes are answered by the middleware, before
  the app, and are not counted in the HTTP metrics.
- Metrics (see `InstrumentMetrics` for names and labels):
  `http_server_request_duration_seconds{http_request_method,http_route,
  http_response_status_code}` labelled by route *template*,
  `inference_stage_duration_seconds{stage}`, `inference_errors_total{http_route,error_type}`,
  `inference_model_info{name,version,uri}`, `python_asyncio_event_loop_lag_seconds` (from
  a sampler started on lifespan startup) and the prediction-log counters.
  Without `readiness=`, the wrapper makes its own (`app.readiness`) and marks it ready
  when the app's own startup (where the model loads) has completed; with yours, `/readyz`
  answers 503 (its body names the missing `warm_up` call) until you mark it.
- On lifespan startup (after the app's own) the loop-lag sampler starts; when shutdown
  begins `/readyz` turns 503; after the app's shutdown the sampler stops and the
  prediction logger is closed (its queue flushed to files). An app without lifespan
  support gets the protocol answered by the middleware, so this works for any ASGI app.
- `instrument(app)` instruments a Starlette or FastAPI app in place (the outermost layer
  of its middleware stack, added before its first request), so the return value may be
  ignored, as with OpenTelemetry's `instrument_app(app)`; serving the returned object is the
  same. Any other ASGI app is wrapped: serve the returned object.
- `app.add_middleware(InstrumentMiddleware, ...)` works too; attributes the wrapper does
  not have are read from the wrapped app (`@app.get` on `instrument(FastAPI())`).

`PredictionLogger.log()` only enqueues; the row format `infermedic drift` reads is in
`infermedic.instrument.predlog`'s docstring: `time`, `request_id`, `model_version`, the
features as columns, then `prediction` and the `outputs` columns.
"""

from __future__ import annotations

from infermedic.instrument.health import Readiness
from infermedic.instrument.looplag import LoopLagMonitor
from infermedic.instrument.metrics import InstrumentMetrics
from infermedic.instrument.middleware import InstrumentMiddleware, format_server_timing, instrument
from infermedic.instrument.predlog import PredictionLogger, PredictionSink, RotatingFileSink
from infermedic.instrument.stages import Stage, current_request_id, stage

__all__ = [
    "InstrumentMetrics",
    "InstrumentMiddleware",
    "LoopLagMonitor",
    "PredictionLogger",
    "PredictionSink",
    "Readiness",
    "RotatingFileSink",
    "Stage",
    "current_request_id",
    "format_server_timing",
    "instrument",
    "stage",
]
