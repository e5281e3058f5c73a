"""Prometheus `/metrics`: parse, diff two scrapes, and read server-side stage times per dialect."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

Sample = tuple[str, tuple[tuple[str, str], ...]]  # (sample name, sorted labels)


class MetricsParseError(ValueError):
    """The body is not Prometheus text exposition format."""


def parse_metrics(text: str) -> dict[Sample, float]:
    """Every sample of a scrape, keyed by name and labels."""
    samples: dict[Sample, float] = {}
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                samples[key] = float(sample.value)
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        raise MetricsParseError(str(exc) or type(exc).__name__) from exc
    return samples


def total(samples: Mapping[Sample, float], name: str, **labels: str) -> float | None:
    """The sum of a sample over all label sets matching `labels`; None when absent."""
    values = [
        value
        for (sample_name, sample_labels), value in samples.items()
        if sample_name == name and all(dict(sample_labels).get(k) == v for k, v in labels.items())
    ]
    return sum(values) if values else None


def label_values(samples: Mapping[Sample, float], label: str) -> set[str]:
    return {dict(labels)[label] for (_, labels) in samples if label in dict(labels)}


def resident_memory_bytes(samples: Mapping[Sample, float]) -> float | None:
    return total(samples, "process_resident_memory_bytes")


@dataclass(frozen=True, kw_only=True, slots=True)
class StageTime:
    """A server-side stage's mean time per request over a load step, from metric deltas."""

    stage: str
    mean_ms: float
    requests: float
    source: str  # the metric it came from, with its unit


# (sum metric, count metric, unit → ms factor, stage label or fixed stage name)
_HISTOGRAM_DIALECTS: tuple[tuple[str, str, float, str], ...] = (
    (
        "inference_stage_duration_seconds_sum",
        "inference_stage_duration_seconds_count",
        1000.0,
        "label:stage",
    ),
    ("request_preprocess_seconds_sum", "request_preprocess_seconds_count", 1000.0, "preprocess"),
    ("request_predict_seconds_sum", "request_predict_seconds_count", 1000.0, "predict"),
    ("request_postprocess_seconds_sum", "request_postprocess_seconds_count", 1000.0, "postprocess"),
    (
        "ray_serve_deployment_processing_latency_ms_sum",
        "ray_serve_deployment_processing_latency_ms_count",
        1.0,
        "replica",
    ),
    ("model_infer_request_duration_sum", "model_infer_request_duration_count", 1000.0, "infer"),
)
# Cumulative-microsecond counters divided by a request counter (Triton, TorchServe).
_COUNTER_DIALECTS: tuple[tuple[str, str, str], ...] = (
    ("nv_inference_queue_duration_us", "nv_inference_request_success", "queue"),
    ("nv_inference_compute_infer_duration_us", "nv_inference_request_success", "infer"),
    ("nv_inference_compute_input_duration_us", "nv_inference_request_success", "input"),
    ("nv_inference_compute_output_duration_us", "nv_inference_request_success", "output"),
    ("ts_queue_latency_microseconds", "ts_inference_requests_total", "queue"),
)


def stage_times(before: Mapping[Sample, float], after: Mapping[Sample, float]) -> list[StageTime]:
    """Mean per-request time of each server stage between two scrapes, in ms."""

    def delta(name: str, **labels: str) -> float | None:
        end = total(after, name, **labels)
        if end is None:
            return None
        return end - (total(before, name, **labels) or 0.0)

    stages: list[StageTime] = []
    for sum_name, count_name, factor, stage in _HISTOGRAM_DIALECTS:
        if stage.startswith("label:"):
            label = stage.split(":", 1)[1]
            names = sorted(
                dict(labels)[label]
                for (name, labels) in after
                if name == sum_name and label in dict(labels)
            )
            pairs = [(n, {label: n}) for n in dict.fromkeys(names)]
        else:
            pairs = [(stage, {})]
        for stage_name, labels in pairs:
            sum_delta, count_delta = delta(sum_name, **labels), delta(count_name, **labels)
            if sum_delta is not None and count_delta and count_delta > 0:
                stages.append(
                    StageTime(
                        stage=stage_name,
                        mean_ms=sum_delta * factor / count_delta,
                        requests=count_delta,
                        source=f"Δ{sum_name} / Δ{count_name}",
                    )
                )
    for counter_name, requests_name, stage_name in _COUNTER_DIALECTS:
        micros, count = delta(counter_name), delta(requests_name)
        if micros is not None and count and count > 0:
            stages.append(
                StageTime(
                    stage=stage_name,
                    mean_ms=micros / 1000.0 / count,
                    requests=count,
                    source=f"Δ{counter_name} (µs) / Δ{requests_name}",
                )
            )
    return stages
