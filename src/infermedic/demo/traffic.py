"""Production-like traffic for a demo service: bounded in count and time, to one URL only.

`generate_traffic` posts request bodies drawn from the scenario's population (the training
distribution, or a shifted one for `input-drift`) to `URL + scenario.predict_path`. The
service logs each prediction under `DIR/logs/` (`Scenario.prediction_log_dir`); the log is
complete once the service has stopped (its writer flushes every half second and at shutdown).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx

from infermedic.demo.data import reference_frame, request_bodies
from infermedic.demo.scenarios import Scenario, get_scenario
from infermedic.errors import InputError
from infermedic.probe.http import send_sync

__all__ = ["TrafficResult", "generate_traffic", "reference_frame", "request_bodies"]

DEFAULT_REQUESTS = 200
MAX_REQUESTS = 100_000
MAX_DURATION_S = 3600.0
MAX_CONCURRENCY = 64
MAX_RATE = 5000.0
_BODY_POOL = 2000  # distinct customers per run; longer runs cycle through them
_KEPT_ERRORS = 5


@dataclass(frozen=True, kw_only=True)
class TrafficResult:
    """What one traffic run sent and got back.

    `latencies_s` holds one entry per answered request in send order; with a `rate` they are
    measured from each request's intended send time, so a stalled server is not hidden by the
    generator waiting for it (coordinated omission). `failed` counts answers outside 2xx;
    `transport_errors` counts requests that got no answer.
    """

    scenario: str
    url: str
    sent: int
    succeeded: int
    failed: int
    transport_errors: int
    status_counts: Mapping[int, int]
    latencies_s: tuple[float, ...]
    duration_s: float
    first_errors: tuple[str, ...]

    @property
    def throughput_rps(self) -> float:
        """Answered requests per second of wall time."""
        answered = self.succeeded + self.failed
        return answered / self.duration_s if self.duration_s > 0 else 0.0

    def latency_quantile(self, quantile: float) -> float:
        """The `quantile` (0..1) of answered-request latency, in seconds (nearest rank)."""
        if not self.latencies_s:
            raise InputError("no request was answered, so there is no latency to report")
        ordered = sorted(self.latencies_s)
        rank = min(len(ordered) - 1, max(0, round(quantile * len(ordered)) - 1))
        return ordered[rank]


def generate_traffic(
    scenario: str | Scenario,
    url: str,
    *,
    requests: int | None = None,
    duration: float | None = None,
    rate: float | None = None,
    concurrency: int = 1,
    seed: int = 0,
    timeout_s: float = 10.0,
    progress: Callable[[int], None] | None = None,
) -> TrafficResult:
    """Send `/predict` requests to the service at base URL `url` and collect the answers.

    Stops after `requests` requests or `duration` seconds, whichever comes first
    (`DEFAULT_REQUESTS` when neither is given). `rate` (requests per second, over all
    workers) paces the sends on a fixed schedule; without it each of the `concurrency`
    workers sends its next request as soon as the last one is answered. `progress` is called
    with the number of requests sent so far.
    """
    chosen = get_scenario(scenario)
    total = _check_bounds(requests, duration, rate, concurrency, timeout_s)
    target = _predict_url(url, chosen)
    bodies = request_bodies(chosen, min(total, _BODY_POOL), seed=seed)
    outcomes: list[tuple[int | None, float, str | None] | None] = [None] * total
    next_index = [0]
    lock = threading.Lock()
    started = time.perf_counter()
    deadline = started + duration if duration is not None else float("inf")

    def claim() -> int | None:
        with lock:
            index = next_index[0]
            if index >= total or time.perf_counter() >= deadline:
                return None
            next_index[0] = index + 1
        if progress is not None:
            progress(index + 1)
        return index

    def work(client: httpx.Client) -> None:
        while (index := claim()) is not None:
            intended = started + index / rate if rate else time.perf_counter()
            delay = intended - time.perf_counter()
            if delay > 0:
                if intended >= deadline:
                    return
                time.sleep(delay)
            try:
                # Bounded as the probe's requests: no redirect, a total deadline, a body cap.
                status, _ = send_sync(
                    client,
                    "POST",
                    target,
                    json_body=bodies[index % len(bodies)],
                    deadline_s=timeout_s,
                )
            except httpx.TransportError as exc:
                outcomes[index] = (None, time.perf_counter() - intended, repr(exc))
                continue
            error = None if 200 <= status < 300 else f"HTTP {status}"
            outcomes[index] = (status, time.perf_counter() - intended, error)

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    with httpx.Client(timeout=timeout_s, limits=limits) as client:
        workers = [
            threading.Thread(target=work, args=(client,), name=f"demo-traffic-{n}", daemon=True)
            for n in range(concurrency)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    elapsed = time.perf_counter() - started
    return _summarise(chosen, target, [o for o in outcomes if o is not None], elapsed)


def _check_bounds(
    requests: int | None,
    duration: float | None,
    rate: float | None,
    concurrency: int,
    timeout_s: float,
) -> int:
    if requests is None and duration is None:
        requests = DEFAULT_REQUESTS
    if requests is not None and not 1 <= requests <= MAX_REQUESTS:
        raise InputError(f"requests must be between 1 and {MAX_REQUESTS}, not {requests}")
    if duration is not None and not 0 < duration <= MAX_DURATION_S:
        raise InputError(f"duration must be in (0, {MAX_DURATION_S:.0f}] s, not {duration}")
    if rate is not None and not 0 < rate <= MAX_RATE:
        raise InputError(f"rate must be in (0, {MAX_RATE:.0f}] requests/s, not {rate}")
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise InputError(f"concurrency must be between 1 and {MAX_CONCURRENCY}")
    if timeout_s <= 0:
        raise InputError("timeout_s must be positive")
    if requests is not None:
        return requests
    # Only a duration: the count is what the rate allows, or the hard cap.
    assert duration is not None
    return min(MAX_REQUESTS, int(duration * rate) + 1) if rate else MAX_REQUESTS


def _predict_url(url: str, scenario: Scenario) -> str:
    parsed = httpx.URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise InputError(
            f"not an http(s) URL: {url!r}",
            hint="give the service's base URL, e.g. http://127.0.0.1:8000",
        )
    base = url.rstrip("/")
    return base if base.endswith(scenario.predict_path) else base + scenario.predict_path


def _summarise(
    scenario: Scenario,
    target: str,
    outcomes: list[tuple[int | None, float, str | None]],
    elapsed: float,
) -> TrafficResult:
    statuses = Counter(status for status, _, _ in outcomes if status is not None)
    answered = [(status, latency) for status, latency, _ in outcomes if status is not None]
    errors: list[str] = []
    for _, _, error in outcomes:
        if error is not None and error not in errors and len(errors) < _KEPT_ERRORS:
            errors.append(error)
    succeeded = sum(count for status, count in statuses.items() if 200 <= status < 300)
    return TrafficResult(
        scenario=scenario.name,
        url=target,
        sent=len(outcomes),
        succeeded=succeeded,
        failed=sum(statuses.values()) - succeeded,
        transport_errors=sum(1 for status, _, _ in outcomes if status is None),
        status_counts=dict(sorted(statuses.items())),
        latencies_s=tuple(latency for _, latency in answered),
        duration_s=elapsed,
        first_errors=tuple(errors),
    )
