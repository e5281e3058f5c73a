"""Every scenario served for real: correct model output, the planted fault seen from outside.

Servers are started once per module (`serve`) and stopped, with the process and port
checked, at the end. Fault tests compare a faulty scenario with `healthy` (or a service
with itself) in relative terms, never against absolute milliseconds.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import psutil
import pytest

from infermedic.demo.data import reference_frame, request_bodies
from infermedic.demo.scenarios import SCENARIOS
from infermedic.demo.service import RunningService, running_scenario
from infermedic.demo.templates.app import churn
from infermedic.demo.templates.app.registry import VERSIONS
from infermedic.demo.traffic import generate_traffic

from .conftest import health_latency, port_is_free, process_gone

pytestmark = pytest.mark.server

Serve = Callable[[str], RunningService]


def expected_probabilities(name: str, bodies: list[dict[str, object]]) -> list[float]:
    """What the scenario's model, trained here from the same recipe, says for `bodies`."""
    if name in ("load-per-request", "cold-start"):
        model = churn.train_model(classifier="forest")
    elif name == "version-mismatch":
        model = churn.train_model(seed=VERSIONS[SCENARIOS[name].served_model_version])
    else:
        model = churn.train_model()
    return churn.churn_probability(model, churn.customer_frame(bodies))  # type: ignore[arg-type]


def post_all(service: RunningService, bodies: list[dict[str, object]]) -> list[float]:
    with httpx.Client(timeout=30.0) as client:
        answers = [client.post(service.endpoint("/predict"), json=b) for b in bodies]
    assert [a.status_code for a in answers] == [200] * len(bodies)
    return [float(a.json()["churn_probability"]) for a in answers]


def serial_latencies(service: RunningService, count: int, path: str = "/predict") -> list[float]:
    bodies = request_bodies(service.scenario, count, seed=5)
    latencies = []
    with httpx.Client(timeout=30.0) as client:
        client.get(service.endpoint(service.scenario.liveness_path))  # connection is warm
        for body in bodies:
            started = time.perf_counter()
            client.post(service.endpoint(path), json=body).raise_for_status()
            latencies.append(time.perf_counter() - started)
    return latencies


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario_serves_real_model_output(name: str, serve: Serve) -> None:
    service = serve(name)
    bodies = request_bodies(name, 8, seed=2)
    served = post_all(service, bodies)
    assert all(0.0 <= p <= 1.0 for p in served)
    expected = expected_probabilities(name, bodies)
    if name == "preprocessing-skew":
        assert max(abs(s - e) for s, e in zip(served, expected, strict=True)) > 0.01
    else:
        assert served == pytest.approx(expected, abs=1e-9)
    version = httpx.get(service.endpoint(service.scenario.version_path)).json()
    assert version["model_version"] == service.scenario.served_model_version
    metrics = httpx.get(service.endpoint(service.scenario.metrics_path))
    assert metrics.status_code == 200 and "# TYPE" in metrics.text


def test_a_stopped_service_leaves_no_process_and_frees_its_port(tmp_path: Path) -> None:
    with running_scenario("no-validation", tmp_path / "repo") as service:
        pid, port = service.pid, service.port
        assert psutil.Process(pid).is_running()
        assert not port_is_free(port)
    assert process_gone(pid)
    assert port_is_free(port)
    assert (tmp_path / "repo" / "scenario.json").is_file()


@pytest.mark.parametrize("name", ["blocking-predict", "blocking-log"])
def test_event_loop_blocked_health_slows_under_predict_load(name: str, serve: Serve) -> None:
    healthy = health_latency(serve("healthy"), under_load=True)
    faulty = health_latency(serve(name), under_load=True)
    assert faulty > 2.0 * healthy, (faulty, healthy)


def test_load_per_request_makes_every_prediction_slow(serve: Serve) -> None:
    healthy = statistics.median(serial_latencies(serve("healthy"), 15))
    faulty = statistics.median(serial_latencies(serve("load-per-request"), 15))
    # Loading the small demo model adds ~15 ms to a ~5 ms request on a quiet machine (4x);
    # a busy CI box inflates both sides (measured 25 vs 10 ms), so the floor is 2x.
    assert faulty > 2.0 * healthy, (faulty, healthy)


def test_explainer_per_request_makes_explained_requests_slow(serve: Serve) -> None:
    service = serve("explainer-per-request")
    plain = statistics.median(serial_latencies(service, 6))
    explained = statistics.median(serial_latencies(service, 6, "/predict?explain=true"))
    assert explained > 4.0 * plain, (explained, plain)
    body = request_bodies(service.scenario, 1)[0]
    answer = httpx.post(service.endpoint("/predict?explain=true"), json=body).json()
    assert set(answer["contributions"]) == set(churn.FEATURES)


def test_slow_upstream_shows_in_the_tail_not_the_median(serve: Serve) -> None:
    def tail_ratio(service: RunningService) -> tuple[float, float]:
        result = generate_traffic(service.scenario, service.url, requests=150, concurrency=4)
        assert result.succeeded == 150
        return result.latency_quantile(0.99), result.latency_quantile(0.5)

    healthy_p99, healthy_p50 = tail_ratio(serve("healthy"))
    slow_p99, slow_p50 = tail_ratio(serve("slow-upstream"))
    assert slow_p99 / slow_p50 > 2.0 * healthy_p99 / healthy_p50, (slow_p99, slow_p50)
    assert slow_p50 < 5.0 * healthy_p50


def test_memory_leak_grows_resident_memory(serve: Serve) -> None:
    def growth(service: RunningService) -> int:
        generate_traffic(service.scenario, service.url, requests=20, concurrency=2)
        before = psutil.Process(service.pid).memory_info().rss
        generate_traffic(service.scenario, service.url, requests=200, concurrency=4)
        return int(psutil.Process(service.pid).memory_info().rss - before)

    healthy = growth(serve("healthy"))
    leaking = growth(serve("memory-leak"))
    assert leaking > 12 * 2**20, leaking  # 200 requests x ~100 KB kept
    assert leaking > 4 * max(healthy, 2**20), (leaking, healthy)


def test_cold_start_first_request_pays_while_ready_said_yes(tmp_path: Path) -> None:
    def first_over_steady(name: str) -> float:
        with running_scenario(name, tmp_path / name) as service:
            latencies = serial_latencies(service, 8)
        return latencies[0] / statistics.median(latencies[1:])

    cold = first_over_steady("cold-start")
    warm = first_over_steady("healthy")
    assert cold > 5.0, cold
    assert cold > 3.0 * warm, (cold, warm)


def test_preprocessing_skew_moves_predictions_with_unchanged_inputs(serve: Serve) -> None:
    bodies = request_bodies("healthy", 200, seed=9)
    healthy = np.array(post_all(serve("healthy"), bodies))
    skewed = np.array(post_all(serve("preprocessing-skew"), bodies))
    assert skewed.mean() - healthy.mean() > 0.05
    assert (skewed >= 0.5).mean() > 2 * (healthy >= 0.5).mean()
    reference = reference_frame()["churn_probability"]
    assert abs(healthy.mean() - reference.mean()) < abs(skewed.mean() - reference.mean())


def test_input_drift_traffic_lands_shifted_in_the_prediction_log(tmp_path: Path) -> None:
    with running_scenario("input-drift", tmp_path / "repo") as service:
        result = generate_traffic(service.scenario, service.url, requests=120, concurrency=2)
        log_dir = service.prediction_log_dir
    assert result.succeeded == 120
    # The log is complete once the service has stopped (the logger flushes on shutdown).
    rows = [
        json.loads(line)
        for path in sorted(log_dir.glob("*.jsonl"))
        for line in path.read_text().splitlines()
    ]
    assert len(rows) == 120
    logged_tenure = statistics.mean(float(r["tenure_months"]) for r in rows)
    assert logged_tenure < 0.6 * reference_frame()["tenure_months"].mean()
    assert "enterprise" in {r["plan"] for r in rows}
    assert {"request_id", "model_version", "churn_probability", *churn.FEATURES} <= set(rows[0])


def test_version_mismatch_reports_a_version_other_than_the_pinned_one(serve: Serve) -> None:
    for name in ("healthy", "version-mismatch"):
        service = serve(name)
        reported = httpx.get(service.endpoint(service.scenario.version_path)).json()
        answer = httpx.post(service.endpoint("/predict"), json=request_bodies(name, 1)[0]).json()
        assert reported["model_version"] == answer["model_version"]
        pinned = service.scenario.pinned_model_version
        assert (reported["model_version"] != pinned) == (name == "version-mismatch")


MALFORMED: list[dict[str, object]] = [
    {"tenure_months": 3, "monthly_charges": 50.0, "age": 30, "plan": "basic", "region": "east"},
    {
        "tenure_months": "three",
        "monthly_charges": 50.0,
        "support_calls": 1,
        "age": 30,
        "plan": "basic",
        "region": "east",
    },
]


def test_malformed_input_is_a_500_without_validation_and_a_422_with_it(serve: Serve) -> None:
    for name, expected in (("no-validation", 500), ("healthy", 422)):
        service = serve(name)
        # A fresh connection per request: after an unhandled error uvicorn closes the
        # keep-alive connection, as it would for any client.
        statuses = [
            httpx.post(service.endpoint("/predict"), json=body, timeout=10.0).status_code
            for body in MALFORMED
        ]
        nan_body = json.dumps({**request_bodies(name, 1)[0], "monthly_charges": float("nan")})
        statuses.append(
            httpx.post(
                service.endpoint("/predict"),
                content=nan_body,
                headers={"content-type": "application/json"},
                timeout=10.0,
            ).status_code
        )
        assert statuses == [expected] * 3, (name, statuses)


def test_global_lock_serialises_concurrent_requests(serve: Serve) -> None:
    service = serve("global-lock")
    generate_traffic(service.scenario, service.url, requests=5)
    rounds = [
        (
            generate_traffic(service.scenario, service.url, requests=12, concurrency=1),
            generate_traffic(service.scenario, service.url, requests=24, concurrency=4),
        )
        for _ in range(2)
    ]
    # The better of two rounds each, so a burst of other work on the machine does not decide.
    serial = max((s for s, _ in rounds), key=lambda r: r.throughput_rps)
    concurrent = max((c for _, c in rounds), key=lambda r: r.throughput_rps)
    # The lock shows as queueing: at concurrency 4 each request waits for those before it.
    # Throughput is the weaker signal (a serial run on a loaded host measured 1.8x on a
    # locked service, from client overhead that the concurrent run overlaps), so its bound
    # only rules out the 4x a sleep-bound, unlocked service would reach.
    assert concurrent.latency_quantile(0.5) > 2.5 * serial.latency_quantile(0.5)
    assert concurrent.throughput_rps < 2.5 * serial.throughput_rps
