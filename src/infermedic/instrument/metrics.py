"""The Prometheus metrics the instrumentation exports, created once per registry."""

from __future__ import annotations

import os
import threading
import weakref
from dataclasses import dataclass

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

__all__ = ["InstrumentMetrics", "multiprocess_dir", "render_metrics"]

# OpenTelemetry's advised buckets for http.server.request.duration (= prometheus_client's
# defaults), so dashboards built for OTel exporters read these series unchanged.
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
# Stages are often sub-millisecond (feature lookup, serialisation); start lower than HTTP.
STAGE_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
LOOP_LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True, kw_only=True)
class InstrumentMetrics:
    """Every metric infermedic's instrumentation writes, bound to one registry.

    Metric names and labels (the probe and dashboards read these):

    - `http_server_request_duration_seconds{http_request_method, http_route,
      http_response_status_code}` histogram (OpenTelemetry HTTP semconv as Prometheus
      renders it); `http_route` is the route template (`/items/{item_id}`), `unmatched`
      when no route matched, never the raw path.
    - `http_server_active_requests` gauge (in-flight requests, summed over workers).
    - `inference_stage_duration_seconds{stage}` histogram, one observation per stage per
      request (repeated stages in one request are summed).
    - `inference_errors_total{http_route, error_type}`: `error_type` is the exception's class
      name when the app raised, else `http_<status>` for a 5xx response.
    - `inference_model_info{name, version, uri}` gauge, always 1.
    - `python_asyncio_event_loop_lag_seconds` gauge (largest lag over the last window) and
      `python_asyncio_event_loop_lag_distribution_seconds` histogram (every sample).
    - `inference_prediction_log_dropped_total{reason}` (`queue_full`, `sink_error`,
      `invalid_row`, `closed`), `inference_prediction_log_rows_written_total`,
      `inference_prediction_log_queue_depth`.
    """

    registry: CollectorRegistry
    request_duration: Histogram
    active_requests: Gauge
    stage_duration: Histogram
    errors: Counter
    model_info: Gauge
    loop_lag: Gauge
    loop_lag_distribution: Histogram
    prediction_log_dropped: Counter
    prediction_log_written: Counter
    prediction_log_queue_depth: Gauge

    @classmethod
    def for_registry(cls, registry: CollectorRegistry | None = None) -> InstrumentMetrics:
        """The metrics registered in `registry` (the default registry when None).

        Created on first use and reused after, so instrumenting two apps, or an app and a
        prediction logger, against one registry does not fail on duplicate names.
        """
        target = REGISTRY if registry is None else registry
        with _lock:
            metrics = _by_registry.get(target)
            if metrics is None:
                metrics = _create(target)
                _by_registry[target] = metrics
            return metrics


_lock = threading.Lock()
_by_registry: weakref.WeakKeyDictionary[CollectorRegistry, InstrumentMetrics] = (
    weakref.WeakKeyDictionary()
)


def _create(registry: CollectorRegistry) -> InstrumentMetrics:
    return InstrumentMetrics(
        registry=registry,
        request_duration=Histogram(
            "http_server_request_duration_seconds",
            "Duration of HTTP server requests.",
            ["http_request_method", "http_route", "http_response_status_code"],
            buckets=HTTP_BUCKETS,
            registry=registry,
        ),
        active_requests=Gauge(
            "http_server_active_requests",
            "Number of HTTP server requests in flight.",
            multiprocess_mode="livesum",
            registry=registry,
        ),
        stage_duration=Histogram(
            "inference_stage_duration_seconds",
            "Time spent in one named stage of a request (Server-Timing entries).",
            ["stage"],
            buckets=STAGE_BUCKETS,
            registry=registry,
        ),
        errors=Counter(
            "inference_errors",
            "Requests that raised or answered 5xx.",
            ["http_route", "error_type"],
            registry=registry,
        ),
        model_info=Gauge(
            "inference_model_info",
            "The model this process serves (value is always 1).",
            ["name", "version", "uri"],
            multiprocess_mode="max",
            registry=registry,
        ),
        loop_lag=Gauge(
            "python_asyncio_event_loop_lag_seconds",
            "Largest asyncio event-loop lag (sleep overshoot) over the last window.",
            multiprocess_mode="livemax",
            registry=registry,
        ),
        loop_lag_distribution=Histogram(
            "python_asyncio_event_loop_lag_distribution_seconds",
            "Every asyncio event-loop lag sample.",
            buckets=LOOP_LAG_BUCKETS,
            registry=registry,
        ),
        prediction_log_dropped=Counter(
            "inference_prediction_log_dropped",
            "Prediction-log rows dropped instead of delaying a request.",
            ["reason"],
            registry=registry,
        ),
        prediction_log_written=Counter(
            "inference_prediction_log_rows_written",
            "Prediction-log rows stored by the sink (for files: in published files).",
            registry=registry,
        ),
        prediction_log_queue_depth=Gauge(
            "inference_prediction_log_queue_depth",
            "Prediction-log rows waiting for the writer thread.",
            multiprocess_mode="livesum",
            registry=registry,
        ),
    )


def multiprocess_dir() -> str | None:
    """`PROMETHEUS_MULTIPROC_DIR` when set: the workers' metrics are then merged per scrape."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def render_metrics(registry: CollectorRegistry | None) -> tuple[bytes, str]:
    """The text exposition for `/metrics` and its content type.

    With `PROMETHEUS_MULTIPROC_DIR` set, every worker writes its samples to files there and
    a scrape must merge them (prometheus_client's documented pattern: a fresh registry with
    a `MultiProcessCollector` per scrape); otherwise one worker's numbers would be served.
    """
    directory = multiprocess_dir()
    if directory is not None:
        from prometheus_client import multiprocess

        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged, path=directory)  # type: ignore[no-untyped-call]
        return generate_latest(merged), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY if registry is None else registry), CONTENT_TYPE_LATEST
