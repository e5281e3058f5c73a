"""The prediction route from a repo's route index (prefixes kept) and request examples from
its tests (read, never run); and the order detection gives them against OpenAPI."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest

from infermedic.errors import InputError
from infermedic.probe.http import ProbeClient, Redactor
from infermedic.probe.protocols import detect
from infermedic.probe.repo_hints import RepoHints, RepoRoute, choose_predict_route, repo_hints
from tests.probe import fakes


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def route(path: str, *, method: str = "POST", model: bool = False, handler: str = "h") -> RepoRoute:
    return RepoRoute(
        method=method, path=path, handler=f"app.{handler}", file="app.py", line=1,
        reaches_model=model,
    )  # fmt: skip


# -- choosing among indexed routes ------------------------------------------------------------
def test_a_route_reaching_the_model_beats_a_predict_like_name() -> None:
    chosen, why = choose_predict_route(
        (route("/predict"), route("/v1/churn", model=True), route("/health", method="GET"))
    )
    assert chosen is not None and chosen.path == "/v1/churn"
    assert "reaches a model call" in why


def test_among_model_routes_the_predict_like_one_wins() -> None:
    chosen, _ = choose_predict_route(
        (route("/explain", model=True), route("/score", model=True, handler="score"))
    )
    assert chosen is not None and chosen.path == "/score"


def test_a_predict_like_name_when_no_model_call_is_seen() -> None:
    chosen, why = choose_predict_route((route("/feedback"), route("/invocations")))
    assert chosen is not None and chosen.path == "/invocations"
    assert "named like prediction" in why


def test_routes_with_parameters_or_other_verbs_are_not_candidates() -> None:
    chosen, why = choose_predict_route((route("/predict/{model}"), route("/predict", method="GET")))
    assert chosen is None and "no POST route" in why


def test_several_unnamed_post_routes_are_ambiguous() -> None:
    chosen, why = choose_predict_route((route("/a"), route("/b")))
    assert chosen is None and "/a, /b" in why


# -- prefixes, from real source files ---------------------------------------------------------
def test_fastapi_router_prefixes_add_up(tmp_path: Path) -> None:
    repo = write(
        tmp_path,
        {
            "svc/__init__.py": "",
            "svc/api.py": """
                import joblib
                from fastapi import APIRouter

                import tempfile

                router = APIRouter(prefix="/v1")
                scratch = tempfile.mkdtemp(prefix="/tmp-not-a-route")
                model = joblib.load("m.joblib")

                @router.post("/score")
                def score(x: list[float]):
                    return {"y": float(model.predict([x])[0])}

                @router.post("/feedback")
                def feedback(x: dict):
                    return {}
            """,
            "svc/main.py": """
                from fastapi import FastAPI
                from svc import api

                app = FastAPI()
                app.include_router(api.router, prefix="/api")
            """,
        },
    )
    hints = repo_hints(repo)
    assert hints.predict is not None
    assert hints.predict.path == "/api/v1/score"
    assert {r.path for r in hints.routes} == {"/api/v1/score", "/api/v1/feedback"}


def test_flask_register_blueprint_prefix_replaces_the_blueprints_own(tmp_path: Path) -> None:
    repo = write(
        tmp_path,
        {
            "svc/__init__.py": "",
            "svc/routes.py": """
                import joblib
                from flask import Blueprint, request

                bp = Blueprint("scoring", __name__, url_prefix="/ignored")
                other = Blueprint("other", __name__, url_prefix="/misc")
                model = joblib.load("m.joblib")

                def run(payload):
                    return model.predict_proba([[payload["age"]]])

                @bp.route("/churn", methods=["POST"])
                def churn():
                    return {"p": float(run(request.get_json())[0][1])}

                @other.post("/echo")
                def echo():
                    return request.get_json()
            """,
            "svc/app.py": """
                from flask import Flask
                from svc.routes import bp, other

                app = Flask(__name__)
                app.register_blueprint(bp, url_prefix="/v2")
                app.register_blueprint(other)
            """,
        },
    )
    hints = repo_hints(repo)
    paths = {r.path for r in hints.routes}
    assert paths == {"/v2/churn", "/misc/echo"}
    assert hints.predict is not None and hints.predict.path == "/v2/churn"


def test_starlette_mount_prefix(tmp_path: Path) -> None:
    repo = write(
        tmp_path,
        {
            "app.py": """
                from starlette.applications import Starlette
                from starlette.responses import JSONResponse
                from starlette.routing import Mount, Route

                async def rank(request):
                    return JSONResponse({})

                async def ping(request):
                    return JSONResponse({})

                app = Starlette(routes=[
                    Route("/ping", ping),
                    Mount("/v3", routes=[
                        Mount("/models", routes=[Route("/rank", rank, methods=["POST"])]),
                    ]),
                ])
            """
        },
    )
    hints = repo_hints(repo)
    assert {(r.method, r.path) for r in hints.routes} == {
        ("GET", "/ping"),
        ("POST", "/v3/models/rank"),
    }
    assert hints.predict is not None and hints.predict.path == "/v3/models/rank"
    assert "only POST route" in hints.predict_reason


# -- request examples from tests ---------------------------------------------------------------
def test_examples_are_read_from_test_literals_and_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    repo = write(
        tmp_path,
        {
            "tests/test_api.py": f"""
                import json
                from pathlib import Path
                Path({str(marker)!r}).write_text("imported")  # must never happen

                GOOD = {{"age": 40, "plan": "basic"}}

                def test_by_name(client):
                    client.post("/v2/churn", json=GOOD)

                def test_inline(client):
                    client.post("/v2/churn?debug=1", data=json.dumps({{"age": 41}}))

                def test_computed(client):
                    client.post("/v2/churn", json=dict(age=42))  # not a literal: skipped

                def test_other_route(client):
                    payload = {{"text": "hi"}}
                    client.post("http://localhost:8000/feedback", json=payload)
            """,
        },
    )
    hints = repo_hints(repo)
    assert not marker.exists()
    bodies = [(e.path, e.body) for e in hints.examples]
    assert bodies == [
        ("/v2/churn", {"age": 40, "plan": "basic"}),
        ("/v2/churn?debug=1", {"age": 41}),
        ("http://localhost:8000/feedback", {"text": "hi"}),
    ]
    example = hints.example_for("/v2/churn")
    assert example is not None and example.source == "tests/test_api.py:9"
    other = hints.example_for("/feedback")
    assert other is not None and other.body == {"text": "hi"}


def test_examples_from_fixtures_and_computed_urls(tmp_path: Path) -> None:
    repo = write(
        tmp_path,
        {
            "tests/conftest.py": """
                import pytest

                @pytest.fixture
                def churn_request():
                    \"\"\"A known-good request.\"\"\"
                    return {"tenure": 3, "plan": "pro"}
            """,
            "tests/test_live.py": """
                import requests

                BASE = "http://127.0.0.1:8000"

                def test_live(churn_request):
                    requests.post(f"{BASE}/v1/churn", json=churn_request, timeout=5)

                def test_concatenated():
                    requests.post(BASE + "/v1/other", json={"a": 1}, timeout=5)
            """,
        },
    )
    hints = repo_hints(repo)
    found = hints.example_for("/v1/churn")
    assert found is not None and found.body == {"tenure": 3, "plan": "pro"}
    assert found.path == "{}/v1/churn"
    other = hints.example_for("/v1/other")
    assert other is not None and other.body == {"a": 1}
    assert hints.example_for("/churn") is None  # a different route, not a suffix match


def test_a_repo_that_is_not_a_directory_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        repo_hints(tmp_path / "missing")


# -- detection order: --predict-path, then the repo, then OpenAPI -------------------------------
def detected(app: Any, **options: Any) -> Any:
    async def go() -> Any:
        client = ProbeClient(
            "http://svc.test",
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        )
        try:
            return await detect(client, Redactor(()), **options)
        finally:
            await client.aclose()

    return asyncio.run(go())


def hints_for(path: str, body: Any = None) -> RepoHints:
    chosen = route(path, model=True)
    examples: tuple[Any, ...] = ()
    if body is not None:
        from infermedic.probe.repo_hints import RequestExample

        examples = (RequestExample(path=path, body=body, source="tests/t.py:3"),)
    return RepoHints(
        routes=(chosen,), predict=chosen, predict_reason="repo says so", examples=examples
    )


def test_the_repo_route_comes_before_openapi_and_after_predict_path() -> None:
    app = fakes.fastapi_app()  # OpenAPI lists /predict
    # any route the target serves (not 404) is taken from the repo over OpenAPI's /predict
    service = detected(app, repo=hints_for("/livez"))
    assert service.predict_path == "/livez" and service.predict_reason == "repo says so"
    service = detected(app, repo=hints_for("/livez"), predict_path="/predict")
    assert service.predict_path == "/predict" and service.predict_reason == "--predict-path"


def test_a_repo_route_the_target_does_not_serve_falls_back_to_openapi() -> None:
    service = detected(fakes.fastapi_app(), repo=hints_for("/v9/nowhere"))
    assert service.predict_path == "/predict"
    assert any("answers 404" in note for note in service.notes)


def test_the_body_comes_from_openapi_before_the_repos_tests() -> None:
    service = detected(fakes.fastapi_app(), repo=hints_for("/predict", {"sepal_length": 9.0}))
    assert service.body_source is not None and "schema" in service.body_source
    service = detected(
        fakes.fastapi_app(),
        repo=hints_for("/predict", {"sepal_length": 9.0}),
        input_body={"sepal_length": 1.0},
        input_source="in.json",
    )
    assert service.body_source == "in.json"


def test_without_openapi_the_body_comes_from_the_repos_tests() -> None:
    service = detected(fakes.fragile_app(), repo=hints_for("/predict", {"x": 2.0}))
    # fragile_app is FastAPI (it has OpenAPI) but its route takes a raw Request: no schema
    assert service.request_body == {"x": 2.0}
    assert service.body_source == "request example in tests/t.py:3"


# -- what the probe says when it cannot find the route or the body ------------------------------
def plain_starlette() -> Any:
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse, PlainTextResponse
    from starlette.routing import Route

    async def rank(request: Any) -> JSONResponse:
        return JSONResponse({"score": 1.0})

    async def ping(request: Any) -> PlainTextResponse:
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/healthz", ping), Route("/rank", rank, methods=["POST"])])


def probe_in_process(app: Any, **plan: Any) -> Any:
    from infermedic.probe import CheckName, ProbePlan, probe

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    checks = frozenset({CheckName.CONTRACT})
    return probe("http://svc.test", ProbePlan(checks=checks, **plan), transport=transport)


def test_without_a_route_the_hint_names_predict_path_and_repo() -> None:
    with pytest.raises(InputError) as refused:
        probe_in_process(plain_starlette())
    assert "no --repo, no OpenAPI document" in str(refused.value)
    assert refused.value.hint == (
        "give it with --predict-path /predict, or --repo PATH to read it from the service's code"
    )


def test_a_repo_without_a_usable_route_says_why_and_names_predict_path() -> None:
    hints = RepoHints(predict_reason="repo route index: several POST routes (/a, /b), none ...")
    with pytest.raises(InputError) as refused:
        probe_in_process(plain_starlette(), repo_hints=hints)
    assert "several POST routes" in str(refused.value)
    assert refused.value.hint == "give it with --predict-path /predict"


def test_a_route_without_a_body_names_input() -> None:
    with pytest.raises(InputError) as refused:
        probe_in_process(plain_starlette(), predict_path="/rank")
    assert "no request example in" not in str(refused.value)  # no --repo was given
    assert "--input" in (refused.value.hint or "")
    hints = hints_for("/rank", {"q": 1})
    report = probe_in_process(plain_starlette(), repo_hints=hints)
    assert report.measurements["routes"]["request_body_source"] == "request example in tests/t.py:3"
    assert report.measurements["contract"]["prediction"]["status"] == 200


def test_mount_of_a_named_route_list(tmp_path: Path) -> None:
    repo = write(
        tmp_path,
        {
            "svc.py": """
                from starlette.applications import Starlette
                from starlette.routing import Mount, Route

                async def embed(request): ...

                v2 = [Route("/embed", embed, methods=["POST"])]
                app = Starlette(routes=[Mount("/v2", routes=v2)])
            """
        },
    )
    hints = repo_hints(repo)
    assert hints.predict is not None and hints.predict.path == "/v2/embed"


def test_aiohttp_routes_and_the_one_reaching_the_model(tmp_path: Path) -> None:
    repo = write(
        tmp_path,
        {
            "svc/__init__.py": "",
            "svc/handlers.py": """
                import asyncio
                import joblib
                from aiohttp import web

                model = joblib.load("m.joblib")

                def run(row):
                    return model.predict([row])

                async def classify(request):
                    row = await request.json()
                    out = await asyncio.get_running_loop().run_in_executor(None, run, row)
                    return web.json_response({"label": int(out[0])})

                async def audit(request):
                    return web.json_response({})

                async def ping(request):
                    return web.json_response({})
            """,
            "svc/main.py": """
                from aiohttp import web
                from svc.handlers import audit, classify, ping

                app = web.Application()
                app.add_routes([web.post("/audit-log", audit), web.get("/ping", ping)])
                app.router.add_route("POST", "/labels", classify)
            """,
        },
    )
    hints = repo_hints(repo)
    assert {(r.method, r.path) for r in hints.routes} == {
        ("POST", "/audit-log"),
        ("GET", "/ping"),
        ("POST", "/labels"),
    }
    assert hints.predict is not None and hints.predict.path == "/labels"
    assert "reaches a model call" in hints.predict_reason
