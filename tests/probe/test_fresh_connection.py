"""A failure that does not recur on a fresh connection is not counted (in-process: the
transport is httpx.ASGITransport, so 'fresh' is a new client; the live FastAPI test in
test_live_unfamiliar.py covers real connections closed by uvicorn after a 500)."""

from __future__ import annotations

from typing import Any

import httpx

from infermedic.probe import CheckName, ProbePlan, probe
from infermedic.probe.plan import DEFAULT_CHECKS


def flaky_app(failures: int) -> Any:
    """Answers 500 to its first `failures` predictions, then behaves."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    seen = {"predictions": 0}

    async def predict(request: Request) -> JSONResponse:
        seen["predictions"] += 1
        if seen["predictions"] <= failures:
            return JSONResponse({"error": "warming up"}, status_code=500)
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": "not JSON"}, status_code=400)
        x = body.get("x") if isinstance(body, dict) else None
        if not isinstance(x, int | float) or not -1e6 <= x <= 1e6:  # NaN fails both
            return JSONResponse({"error": "x must be a number in [-1e6, 1e6]"}, status_code=422)
        return JSONResponse({"y": float(x) * 2})

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    return Starlette(
        routes=[Route("/healthz", health), Route("/predict", predict, methods=["POST"])]
    )


def run(app: Any, checks: frozenset[CheckName]) -> Any:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    plan = ProbePlan(checks=checks, predict_path="/predict", input_body={"x": 1.5})
    return probe("http://svc.test", plan, transport=transport)


def test_a_known_good_request_that_failed_once_is_tried_again() -> None:
    report = run(flaky_app(failures=1), frozenset({CheckName.CONTRACT, CheckName.ROBUSTNESS}))
    assert report.measurements["contract"]["prediction"]["status"] == 200
    assert any("transient failure" in n.message for n in report.notifications)
    assert "robustness" in report.measurements  # the later check was not skipped
    assert not [f for f in report.findings if f.code == "LIVE005"]


def test_a_known_good_request_that_keeps_failing_stops_the_later_checks() -> None:
    report = run(flaky_app(failures=10_000), DEFAULT_CHECKS)
    assert report.measurements["contract"]["prediction"]["status"] == 500
    assert any("skipped `robustness`" in n.message for n in report.notifications)
