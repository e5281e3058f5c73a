"""Server-Timing and x-*-time headers, /metrics deltas per dialect, payloads and bad inputs."""

from __future__ import annotations

import json
import math

import pytest

from infermedic.probe.checks.robustness import malformed_cases
from infermedic.probe.metrics import MetricsParseError, parse_metrics, stage_times
from infermedic.probe.payload import synthesise, v2_request
from infermedic.probe.servertiming import parse_server_timing, timing_stages


def test_server_timing_spec_examples() -> None:
    assert parse_server_timing("miss, db;dur=53, app;dur=47.2") == [("db", 53.0), ("app", 47.2)]
    assert parse_server_timing('cache;desc="Cache, Read";dur=23.2') == [("cache", 23.2)]
    assert parse_server_timing("a;dur=1;dur=2") == [("a", 1.0)]  # first value wins
    assert parse_server_timing("bad;dur=abc, ;dur=3, x;dur=-1") == []  # lenient, never raises


def test_tgi_style_headers_are_normalised_to_ms() -> None:
    stages = timing_stages({"x-queue-time": "12", "x-compute-time": "0.5"})
    assert ("queue", 12.0) in stages and ("compute", 500.0) in stages


def test_metric_deltas_per_dialect() -> None:
    before = parse_metrics(
        'inference_stage_duration_seconds_sum{stage="infer"} 1.0\n'
        'inference_stage_duration_seconds_count{stage="infer"} 10\n'
        "nv_inference_queue_duration_us 1000\n"
        "nv_inference_request_success 10\n"
    )
    after = parse_metrics(
        'inference_stage_duration_seconds_sum{stage="infer"} 3.0\n'
        'inference_stage_duration_seconds_count{stage="infer"} 110\n'
        "nv_inference_queue_duration_us 501000\n"
        "nv_inference_request_success 110\n"
    )
    by_stage = {s.stage: s for s in stage_times(before, after)}
    assert by_stage["infer"].mean_ms == pytest.approx(20.0)  # 2 s over 100 requests
    assert by_stage["queue"].mean_ms == pytest.approx(5.0)  # 500 000 µs over 100
    assert by_stage["infer"].requests == 100


def test_metrics_that_do_not_parse() -> None:
    with pytest.raises(MetricsParseError):
        parse_metrics("this is { not prometheus\n")


def test_schema_synthesis_respects_refs_enums_and_ranges() -> None:
    document = {"components": {"schemas": {"Plan": {"enum": ["basic", "pro"]}}}}
    schema = {
        "type": "object",
        "required": ["age"],
        "properties": {
            "age": {"type": "integer", "minimum": 18, "maximum": 99},
            "plan": {"$ref": "#/components/schemas/Plan"},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
            "score": {"anyOf": [{"type": "null"}, {"type": "number"}]},
        },
    }
    assert synthesise(schema, document) == {
        "age": 58,
        "plan": "basic",
        "tags": ["a", "a"],
        "score": 1.0,
    }


def test_v2_request_from_metadata() -> None:
    request = v2_request({"inputs": [{"name": "x", "datatype": "INT64", "shape": [-1, 3]}]})
    assert request == {
        "inputs": [{"name": "x", "shape": [1, 3], "datatype": "INT64", "data": [1, 1, 1]}]
    }
    assert v2_request({"inputs": []}) is None


def test_malformed_cases_cover_the_list() -> None:
    cases = {
        c.name: (c.content, c.content_type)
        for c in malformed_cases(
            {"age": 30, "plan": "pro"}, {"required": ["plan"]}, oversized_bytes=1024
        )
    }
    assert json.loads(cases["missing field `plan`"][0]) == {"age": 30}
    assert json.loads(cases["wrong type at `age`"][0])["age"] == "not-a-number"
    assert math.isnan(json.loads(cases["NaN at `age`"][0])["age"])
    assert json.loads(cases["out-of-range value 1e308 at `age`"][0])["age"] == 1e308
    assert cases["empty body"][0] == b""
    assert cases["wrong content type (text/plain)"][1] == "text/plain"
    assert len(cases["oversized body (1 KiB)"][0]) > 1024
    assert "body that is not JSON" in cases
