"""The probe's HTTP client: one host, credentials to one origin, no redirects, bounded."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infermedic.errors import ConfigError, InfermedicError
from infermedic.probe import probe
from infermedic.probe.http import ProbeClient, parse_target
from infermedic.probe.loadgen import is_error
from infermedic.probe.plan import CheckName, ProbePlan
from infermedic.probe.senders import HttpxSender
from infermedic.probe.servertiming import read_timing


def _recording_transport(seen: list[httpx.Request], *, status: int = 200) -> httpx.MockTransport:
    """A mock transport (an in-process stand-in: these are unit tests of the client's own
    decisions; tests/hostile runs the same cases against real servers)."""

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        headers = {"location": "http://elsewhere.test/steal"} if 300 <= status < 400 else {}
        return httpx.Response(status, headers=headers, content=b'{"ok": true}')

    return httpx.MockTransport(handle)


def _client(seen: list[httpx.Request], **options: object) -> ProbeClient:
    return ProbeClient(
        "http://svc.test:8000",
        transport=_recording_transport(seen, **options),  # type: ignore[arg-type]
        auth_headers={"X-API-Key": "k", "Authorization": "Bearer t"},
    )


def test_another_host_is_refused_without_a_request() -> None:
    seen: list[httpx.Request] = []

    async def go() -> None:
        client = _client(seen)
        answer = await client.get("http://elsewhere.test/models")
        await client.aclose()
        assert answer.status == 0 and "not the target host" in (answer.error or "")

    asyncio.run(go())
    assert seen == []


def test_credentials_go_to_the_target_origin_only() -> None:
    seen: list[httpx.Request] = []

    async def go() -> None:
        client = _client(seen)
        await client.get("/health")
        await client.get("http://svc.test:8081/models")  # same host, another port
        await client.aclose()

    asyncio.run(go())
    assert seen[0].headers["x-api-key"] == "k"
    assert "x-api-key" not in seen[1].headers and "authorization" not in seen[1].headers


def test_a_redirect_is_reported_not_followed() -> None:
    seen: list[httpx.Request] = []

    async def go() -> None:
        client = _client(seen, status=307)
        answer = await client.get("/predict")
        await client.aclose()
        assert answer.status == 307 and not answer.ok
        assert "redirect to http://elsewhere.test/steal, not followed" in answer.observed()

    asyncio.run(go())
    assert len(seen) == 1


def test_a_body_over_the_cap_is_an_error_result() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=json.dumps({"x": "y" * 5000}).encode())

    async def go() -> None:
        client = ProbeClient(
            "http://svc.test", transport=httpx.MockTransport(handle), max_body=1000
        )
        answer = await client.get("/predict")
        await client.aclose()
        assert answer.status == 0 and "1000-byte cap" in (answer.error or "")
        sender = HttpxSender(
            "http://svc.test/p", transport=httpx.MockTransport(handle), max_body=1000
        )
        async with sender:
            result = await sender()
        assert result.status == 0 and result.error and "cap" in result.error

    asyncio.run(go())


@pytest.mark.parametrize("status", [422, 500])
def test_an_error_status_over_the_cap_is_that_status_not_silence(status: int) -> None:
    """A validation error that echoes a huge request body is still a 422 (seen: the fixed
    no-validation service counted as 'no response', so LIVE005 stayed); a 2xx past the cap
    stays an error (the test above)."""

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=json.dumps({"detail": "y" * 5000}).encode())

    async def go() -> None:
        client = ProbeClient(
            "http://svc.test", transport=httpx.MockTransport(handle), max_body=1000
        )
        answer = await client.request("POST", "/predict", json_body={"x": 1})
        await client.aclose()
        assert answer.status == status and answer.body == b""
        assert "1000-byte cap" in (answer.error or "")
        sender = HttpxSender(
            "http://svc.test/p", transport=httpx.MockTransport(handle), max_body=1000
        )
        async with sender:
            result = await sender()
        assert result.status == status and not result.error

    asyncio.run(go())


def test_a_metrics_scrape_may_be_larger_but_is_capped_too() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        size = 3 * 1024 * 1024 if request.url.path == "/metrics" else 40 * 1024 * 1024
        return httpx.Response(200, content=b"#" * size)

    async def go() -> None:
        client = ProbeClient("http://svc.test", transport=httpx.MockTransport(handle))
        scrape = await client.get("/metrics")
        assert scrape.status == 200 and len(scrape.body) == 3 * 1024 * 1024
        other = await client.get("/other/metrics/x")
        assert other.status == 0 and "cap" in (other.error or "")
        await client.aclose()

    asyncio.run(go())


def test_a_set_stop_ends_requests_in_flight() -> None:
    async def handle(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(60)
        return httpx.Response(200)

    async def go() -> None:
        stop = asyncio.Event()
        client = ProbeClient(
            "http://svc.test", transport=httpx.MockTransport(handle), timeout_s=120, stop=stop
        )
        pending = asyncio.ensure_future(client.get("/slow"))
        await asyncio.sleep(0.05)
        stop.set()
        answer = await asyncio.wait_for(pending, timeout=10)
        await client.aclose()
        assert answer.status == 0 and answer.error == "interrupted"

    asyncio.run(go())


def test_statuses_other_than_2xx_are_errors() -> None:
    assert [is_error(s) for s in (0, 200, 204, 301, 307, 404, 503)] == [
        True,
        False,
        False,
        True,
        True,
        True,
        True,
    ]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://[::1", "not a valid URL"),
        ("http://h:70000", "not a valid URL"),
        ("gopher://h", r"not an http\(s\) URL"),
        ("http:///path", "no valid host"),
        ("127.0.0.1:8000", r"not an http\(s\) URL"),
        ("http://h:8000/?api_key=zz", "query or fragment"),
    ],
)
def test_malformed_targets_are_config_errors(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_target(url)


def test_url_credentials_become_basic_auth_and_leave_the_url() -> None:
    target = parse_target("https://us%40er:p@ss@svc.test/base/")
    assert target.url == "https://svc.test/base"
    assert (target.username, target.password, target.port) == ("us@er", "p@ss", 443)
    assert target.basic_auth() == "Basic dXNAZXI6cEBzcw=="


@pytest.mark.parametrize(
    "plan",
    [
        ProbePlan(predict_path="http://elsewhere.test/predict"),
        ProbePlan(health_path="//elsewhere.test/health"),
        ProbePlan(timeout_s=float("inf")),
        ProbePlan(timeout_s=0),
        ProbePlan(max_body=0),
    ],
)
def test_plans_that_would_leave_the_host_or_the_bounds_are_refused(plan: ProbePlan) -> None:
    with pytest.raises(ConfigError):
        plan.validated()


def test_implausible_timing_values_are_ignored_and_named() -> None:
    stages, rejected = read_timing(
        {
            "server-timing": "a;dur=inf, b;dur=NaN, c;dur=-5, d;dur=2, e;dur=1e999",
            "x-queue-time": "-3",
            "x-inference-time": "nan",
        }
    )
    assert stages == [("d", 2.0)]
    assert sorted(r.partition("=")[0] for r in rejected) == ["a", "b", "c", "e", "infer", "queue"]


_TIMING_VALUES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["inf", "-inf", "NaN", "-0", "1e999", "-1e-9", "abc", "", '"5"']),
)


@settings(max_examples=200, deadline=None)
@given(
    entries=st.lists(
        st.tuples(st.sampled_from(["db", "app", "q", "a-b"]), _TIMING_VALUES), max_size=6
    ),
    queue=_TIMING_VALUES,
)
def test_timing_headers_never_yield_an_implausible_duration(
    entries: list[tuple[str, str]], queue: str
) -> None:
    header = ", ".join(f"{name};dur={value}" for name, value in entries)
    stages, rejected = read_timing({"server-timing": header, "x-queue-time": queue})
    assert all(math.isfinite(ms) and ms >= 0 for _, ms in stages)
    assert len(stages) + len(rejected) <= len(entries) + 1


def test_routes_a_hostile_openapi_document_points_elsewhere_are_never_requested() -> None:
    """An OpenAPI document whose only routes are absolute URLs on another host: detection may
    pick them, but no request (contract, load, health) leaves the target host."""
    hosts: list[str] = []
    document = {
        "openapi": "3.0.0",
        "paths": {
            "http://elsewhere.test/predict": {
                "post": {
                    "requestBody": {"content": {"application/json": {"example": {"x": [1.0]}}}}
                }
            },
            "http://elsewhere.test/health": {"get": {}},
        },
    }

    def handle(request: httpx.Request) -> httpx.Response:
        hosts.append(request.url.host)
        if request.url.path == "/openapi.json":
            return httpx.Response(200, json=document)
        return httpx.Response(404, json={})

    # Refusing the run is fine; sending elsewhere is not.
    with contextlib.suppress(InfermedicError):
        probe(
            "http://svc.test",
            ProbePlan(
                checks=frozenset({CheckName.CONTRACT, CheckName.LOAD}), rate=10, duration_s=0.5
            ),
            transport=httpx.MockTransport(handle),
        )
    assert hosts and set(hosts) == {"svc.test"}
