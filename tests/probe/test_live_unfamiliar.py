"""Probe against real servers written unlike the demo: Flask under gunicorn with a blueprint
prefix and no OpenAPI, a plain Starlette app with a mounted custom route, a FastAPI app that
fails only when an optional field is missing, and a service whose cache grows per body.

Each service is a small repo written to a temporary directory and served on 127.0.0.1. The
assertions only check that the fault (or the route and body) shows; the verdict thresholds
are unit-tested on recorded data in test_rules_bodies.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from infermedic.diagnose import DiagnoseOptions, diagnose
from infermedic.diagnose.model import CheckStatus
from infermedic.diagnose.plan import Inputs
from infermedic.errors import InputError
from infermedic.model import Report
from infermedic.probe import CheckName, ProbePlan, probe
from infermedic.probe.repo_hints import repo_hints

pytestmark = [pytest.mark.server, pytest.mark.slow]

CONTRACT_ONLY = frozenset({CheckName.CONTRACT})
ROBUST = frozenset({CheckName.CONTRACT, CheckName.ROBUSTNESS})
MODEL = """
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(7)
    X = rng.normal(size=(200, 2))
    model = LogisticRegression().fit(X, (X[:, 0] + X[:, 1] > 0).astype(int))
"""


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def served(
    command: list[str], cwd: Path, port: int, ready: str, env: dict[str, str] | None = None
) -> Iterator[tuple[str, int]]:
    """Start `command` in `cwd`, wait until GET `ready` answers 200, stop it afterwards."""
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(cwd), **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60  # a busy 2-core box imports sklearn slowly
        while True:
            try:
                if httpx.get(url + ready, timeout=2.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"test server {command} did not start")
            time.sleep(0.1)
        yield url, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def uvicorn(app: str, port: int) -> list[str]:
    return [
        sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
        "--log-level", "warning",
    ]  # fmt: skip


def child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}


def routes(report: Report) -> dict[str, Any]:
    result: dict[str, Any] = report.measurements["routes"]
    return result


# -- Flask + gunicorn, blueprint prefix, no OpenAPI --------------------------------------------
FLASK_REPO = {
    "svc/__init__.py": "",
    "svc/model.py": MODEL,
    "svc/scoring.py": """
        from flask import Blueprint, jsonify, request

        from svc.model import model

        bp = Blueprint("scoring", __name__, url_prefix="/scoring")

        def features(payload):
            return [[float(payload["tenure"]), float(payload["spend"])]]

        @bp.route("/churn", methods=["POST"])
        def churn():
            proba = model.predict_proba(features(request.get_json()))
            return jsonify(churn=float(proba[0][1]))

        @bp.post("/feedback")
        def feedback():
            return jsonify(stored=True)
    """,
    "svc/app.py": """
        from flask import Flask

        from svc.scoring import bp

        app = Flask(__name__)
        app.register_blueprint(bp, url_prefix="/api/v2")

        @app.get("/healthz")
        def healthz():
            return "ok"

        @app.post("/admin/reload")
        def reload():
            return "reloaded"
    """,
    "tests/test_api.py": """
        from svc.app import app

        KNOWN_GOOD = {"tenure": 0.5, "spend": -0.2, "plan": "basic"}

        def test_churn():
            response = app.test_client().post("/api/v2/churn", json=KNOWN_GOOD)
            assert response.status_code == 200
    """,
}


def test_flask_route_from_the_repo_and_body_from_its_tests(tmp_path: Path) -> None:
    repo = write(tmp_path, FLASK_REPO)
    port = free_port()
    command = [
        sys.executable, "-m", "gunicorn", "-w", "1", "-b", f"127.0.0.1:{port}", "svc.app:app",
    ]  # fmt: skip
    with served(command, repo, port, "/healthz") as (url, _pid):
        # without --repo there is nothing to go on, and the hint says what would help
        with pytest.raises(InputError) as refused:
            probe(url, ProbePlan(checks=CONTRACT_ONLY))
        assert "--predict-path" in (refused.value.hint or "")
        assert "--repo" in (refused.value.hint or "")

        done = subprocess.run(
            [
                sys.executable, "-m", "infermedic", "probe", url, "--repo", str(repo),
                "--checks", "contract,robustness", "--format", "json",
            ],
            capture_output=True, text=True, timeout=300, env=child_env(),
        )  # fmt: skip
        # diagnose takes the same route by hand: --predict-path with --input, no --repo
        body = tmp_path / "request.json"
        body.write_text(json.dumps({"tenure": 1.0, "spend": 2.0}))
        diagnosed = subprocess.run(
            [
                sys.executable, "-m", "infermedic", "diagnose", "some requests return 500",
                "--url", url, "--predict-path", "/api/v2/churn", "--input", str(body),
                "--rate", "5", "--duration", "2", "--format", "json",
                "--audit-log", str(tmp_path / "audit.jsonl"),
            ],
            capture_output=True, text=True, timeout=300, env=child_env(),
        )  # fmt: skip
    assert diagnosed.returncode in (0, 1), diagnosed.stderr
    diagnosis = json.loads(diagnosed.stdout)
    summary = diagnosis["measurements"]["diagnosis"]
    probe_check = next(c for c in summary["checks"] if c["kind"] == "probe")
    assert probe_check["status"] == "ran", probe_check["reason"]
    assert diagnosis["measurements"]["probe"]["routes"]["predict"] == "/api/v2/churn"
    assert done.returncode in (0, 1), done.stderr
    report = json.loads(done.stdout)
    found = report["measurements"]["routes"]
    assert found["predict"] == "/api/v2/churn"  # the blueprint's prefix as registered
    assert "reaches a model call" in found["predict_reason"]
    assert found["request_body_source"] == "request example in tests/test_api.py:7"
    assert report["measurements"]["contract"]["prediction"]["status"] == 200


# -- plain Starlette, custom mounted route, and diagnose with --repo -----------------------------
STARLETTE_REPO = {
    "service.py": MODEL
    + """
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse, PlainTextResponse
    from starlette.routing import Mount, Route

    async def rank(request):
        payload = await request.json()
        score = model.decision_function([[payload["a"], payload["b"]]])
        return JSONResponse({"rank_score": float(score[0])})

    async def ping(request):
        return PlainTextResponse("pong")

    app = Starlette(routes=[
        Route("/ping", ping),
        Mount("/internal", routes=[Route("/rank", rank, methods=["POST"])]),
    ])
    """,
}


def test_starlette_route_from_the_repo_with_input_and_diagnose(tmp_path: Path) -> None:
    repo = write(tmp_path / "repo", STARLETTE_REPO)
    port = free_port()
    body = {"a": 0.3, "b": 0.1}
    with served(uvicorn("service:app", port), repo, port, "/ping") as (url, _pid):
        report = probe(
            url,
            ProbePlan(
                checks=CONTRACT_ONLY, input_body=body, input_source="--input",
                repo_hints=repo_hints(repo),
            ),
        )  # fmt: skip
        assert routes(report)["predict"] == "/internal/rank"
        assert report.measurements["contract"]["prediction"]["status"] == 200

        result = diagnose(
            "some requests return 500",
            Inputs(repo=repo, url=url),
            options=DiagnoseOptions(rate=5.0, duration_s=2.0, input_body=body),
        )
    probe_run = next(c for c in result.checks if c.kind.value == "probe")
    assert probe_run.status is CheckStatus.RAN, probe_run.reason
    assert probe_run.report is not None
    assert routes(probe_run.report)["predict"] == "/internal/rank"


# -- FastAPI: a 500 only when an optional field is missing -------------------------------------
OPTIONAL_FIELD_APP = {
    "api.py": """
        import math

        from fastapi import FastAPI
        from pydantic import BaseModel, Field

        WEIGHTS = {"smb": 1.2, "enterprise": 0.8}
        app = FastAPI()

        class Customer(BaseModel):
            age: int = Field(ge=0, le=120)
            income: float
            segment: str | None = None

        @app.get("/health")
        def health():
            return {"ok": True}

        @app.post("/predict")
        def predict(customer: Customer):
            # the planted fault: the optional segment is assumed present
            weight = WEIGHTS.get(customer.segment.lower(), 1.0)
            return {"score": math.tanh(customer.income / 1e5) * weight}
    """,
}


def test_a_500_only_when_an_optional_field_is_missing_names_the_field(tmp_path: Path) -> None:
    repo = write(tmp_path, OPTIONAL_FIELD_APP)
    port = free_port()
    with served(uvicorn("api:app", port), repo, port, "/health") as (url, _pid):
        report = probe(url, ProbePlan(checks=ROBUST))
    assert report.measurements["contract"]["prediction"]["status"] == 200
    findings = [f for f in report.findings if f.code == "LIVE005"]
    assert [f.fingerprint_key for f in findings] == ["segment"], [f.message for f in findings]
    [finding] = findings
    assert "optional field `segment` left out" in finding.message
    sent = [e.values for e in finding.evidence if "request_body" in e.values]
    omitted = next(v for v in sent if v["case"] == "optional field `segment` left out")
    assert "segment" not in omitted["request_body"] and omitted["schema_allows"] is True
    assert omitted["status"] == 500 and omitted["recheck_status"] == 500
    # NaN in `income` reaches the response, which FastAPI cannot encode: a warning only
    assert any(n.rule == "LIVE005" and "NaN" in n.message for n in report.notifications)


# -- memory per distinct body ----------------------------------------------------------------
CACHE_APP = {
    "cached.py": """
        import os
        from collections import OrderedDict

        import numpy as np
        from fastapi import FastAPI
        from pydantic import BaseModel

        BOUND = int(os.environ.get("CACHE_BOUND", "0"))  # 0: never evicts (the fault)
        CACHE = OrderedDict()
        app = FastAPI()

        class Row(BaseModel):
            x: float
            y: float

        @app.get("/health")
        def health():
            return {"ok": True}

        @app.post("/predict")
        def predict(row: Row):
            key = (row.x, row.y)
            if key not in CACHE:
                # expanded features kept per request: 64 KiB each
                CACHE[key] = np.full(8192, row.x + row.y)
                if BOUND and len(CACHE) > BOUND:
                    CACHE.popitem(last=False)
            return {"score": float(CACHE[key][:4].sum())}
    """,
}


def cache_probe(repo: Path, bound: int) -> Report:
    port = free_port()
    env = {"CACHE_BOUND": str(bound)}
    with served(uvicorn("cached:app", port), repo, port, "/health", env) as (url, pid):
        return probe(
            url,
            ProbePlan(
                checks=frozenset({CheckName.CONTRACT, CheckName.LOAD}),
                input_body={"x": 0.25, "y": 0.5},
                rate=10.0, duration_s=2.0, pid=pid, cache_requests=150, cache_rounds=2,
            ),
        )  # fmt: skip


def test_memory_growing_per_distinct_body_is_attributed_to_distinct_bodies(
    tmp_path: Path,
) -> None:
    repo = write(tmp_path, CACHE_APP)
    leaking = cache_probe(repo, bound=0)
    distinct = [
        f
        for f in leaking.findings
        if f.code == "LIVE008" and f.fingerprint_key == "distinct-bodies"
    ]
    assert len(distinct) == 1, [n.message for n in leaking.notifications]
    values = distinct[0].evidence[0].values
    # 64 KiB kept per new body; a repeated body adds nothing (wide margins either way)
    assert values["kib_per_distinct_body"] > 20
    assert values["kib_per_identical_body"] < values["kib_per_distinct_body"] / 3

    bounded = cache_probe(repo, bound=16)
    assert not [f for f in bounded.findings if f.code == "LIVE008"]
