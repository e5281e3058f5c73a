"""The SVC006 fix: a pydantic model inferred from example bodies, on FastAPI services written
three ways (a `dict` body parameter; `await request.json()` in an APIRouter module with a
prefix; a nested example body given with `--input`), and its refusals.

Each fixed repo must import and serve (the example body 2xx, a malformed one 422), no
longer show SVC006, change nothing on a second run, and its generated regression test must
fail on the code before the fix and pass after it. The model inference itself is unit-tested
on plain values.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from infermedic.fix.base import Refused
from infermedic.fix.bodyschema import infer_model
from tests.fix.helpers import findings, run_cli, run_python
from tests.fix.services import git_commit_all, write
from tests.fix.test_fix_more import _guarded

DICT_PARAM = {
    "svc/__init__.py": "",
    "svc/main.py": '''"""Scoring with a raw dict body."""

from typing import Any

from fastapi import FastAPI

app = FastAPI()


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/predict")
def predict(payload: dict[str, Any]) -> dict[str, Any]:
    """Score one row."""
    # the fields reach the arithmetic unchecked
    total = sum(payload["features"]) * payload["weight"]
    return {"score": total, "name": payload["name"].upper()}
''',
    "tests/test_api.py": """from fastapi.testclient import TestClient

from svc.main import app

GOOD = {"features": [1, 2.5], "weight": 2, "name": "a"}


def test_predict():
    client = TestClient(app)
    assert client.post("/predict", json=GOOD).status_code == 200
    assert client.post("/predict", json={"features": [3], "weight": 0.5, "name": "b"}).is_success
""",
}

ROUTER_JSON = {
    "pkg/__init__.py": "",
    "pkg/server.py": """from fastapi import FastAPI

from pkg.routes import router

application = FastAPI()
application.include_router(router, prefix="/v1")
""",
    "pkg/routes.py": '''"""Routes on a router, reading the JSON by hand."""

from fastapi import APIRouter, Request

router = APIRouter()


@router.post("/score")
async def score(request: Request):
    data = await request.json()  # read the JSON ourselves
    rows = data["rows"]
    scale = data.get("scale", 1)
    return {"n": len(rows), "total": sum(rows) * scale, "tag": data["tag"]}
''',
    "tests/test_routes.py": """import httpx

BASE = "http://127.0.0.1:8000"


def test_score():
    httpx.post(f"{BASE}/v1/score", json={"rows": [1, 2], "tag": "x", "scale": 2})
    httpx.post(f"{BASE}/v1/score", json={"rows": [0.5], "tag": "y"})
""",
}

NESTED = {
    "api.py": """from fastapi import FastAPI
from typing import Dict, Any

app = FastAPI()


@app.post("/infer")
async def infer(body: Dict[str, Any]):
    features = body["customer"]["features"]
    return {"prediction": sum(features) > body["customer"]["threshold"], "id": body["id"]}
""",
}
NESTED_BODY = {"id": "c-1", "customer": {"features": [0.1, 0.2], "threshold": 0.5, "vip": False}}


def _fixed(repo: Path, tmp_path: Path, *extra: str) -> str:
    done = run_cli(
        "fix",
        str(repo),
        "--select",
        "SVC006",
        "--apply",
        "--tests",
        "--audit-log",
        str(tmp_path / "log"),
        *extra,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _serves(repo: Path, module: str, app: str, path: str, good: Any, bad: Any) -> None:
    """The fixed app imports and serves in-process: the good body 2xx, the bad one 422."""
    done = run_python(
        repo,
        "import json\nfrom fastapi.testclient import TestClient\n"
        f"from {module} import {app} as app\n"
        "with TestClient(app, raise_server_exceptions=False) as c:\n"
        f"    print(c.post({path!r}, json={good!r}).status_code)\n"
        f"    print(c.post({path!r}, json={bad!r}).status_code)\n",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["200", "422"], done.stdout


def _case(tmp_path: Path, files: dict[str, str]) -> tuple[Path, Path]:
    repo = write(tmp_path / "repo", files)
    git_commit_all(repo)
    pristine = tmp_path / "pristine"
    shutil.copytree(repo, pristine, ignore=shutil.ignore_patterns(".git"))
    return repo, pristine


@pytest.mark.slow
def test_dict_param_becomes_model(tmp_path: Path) -> None:
    repo, pristine = _case(tmp_path, DICT_PARAM)
    out = _fixed(repo, tmp_path)
    assert "fix     SVC006" in out, out
    text = (repo / "svc/main.py").read_text()
    assert "def predict(body: PredictRequest)" in text
    assert "payload = body.model_dump(exclude_unset=True)" in text
    assert 'extra="forbid"' in text and "features: list[float]" in text
    assert "weight: float" in text and "name: str" in text
    assert "# the fields reach the arithmetic unchecked" in text  # comments survive
    assert not findings(repo, "SVC006")
    good = {"features": [1, 2.5], "weight": 2, "name": "a"}
    _serves(repo, "svc.main", "app", "/predict", good, {**good, "weight": "heavy"})
    _guarded(repo, pristine, "SVC006")
    again = _fixed(repo, tmp_path)  # idempotent: nothing left to fix
    assert "nothing to fix" in again and (repo / "svc/main.py").read_text() == text


@pytest.mark.slow
def test_request_json_in_router_module(tmp_path: Path) -> None:
    repo, pristine = _case(tmp_path, ROUTER_JSON)
    out = _fixed(repo, tmp_path)
    assert "fix     SVC006" in out and "POST /v1/score" in out, out
    text = (repo / "pkg/routes.py").read_text()
    assert "ScoreRequest.model_validate_json(await request.body())" in text
    assert "raise RequestValidationError" in text and "# read the JSON ourselves" in text
    assert 'extra="allow"' in text  # the examples' keys differ
    assert "scale: int | None = None" in text and "rows: list[float]" in text
    assert not findings(repo, "SVC006")
    good = {"rows": [1, 2], "tag": "x"}
    _serves(repo, "pkg.server", "application", "/v1/score", good, {"rows": "1,2", "tag": "x"})
    _guarded(repo, pristine, "SVC006")


@pytest.mark.slow
def test_nested_body_from_input_file(tmp_path: Path) -> None:
    repo, pristine = _case(tmp_path, NESTED)
    refused = _fixed(repo, tmp_path)
    assert "no example body" in refused and "--input" in refused, refused
    body = tmp_path / "body.json"
    body.write_text(json.dumps(NESTED_BODY))
    out = _fixed(repo, tmp_path, "--input", str(body))
    assert "fix     SVC006" in out, out
    text = (repo / "api.py").read_text()
    assert "class Customer(BaseModel):" in text and "customer: Customer" in text
    assert "vip: bool" in text and "threshold: float" in text
    assert not findings(repo, "SVC006")
    bad = {**NESTED_BODY, "customer": {**NESTED_BODY["customer"], "features": "x"}}
    _serves(repo, "api", "app", "/infer", NESTED_BODY, bad)
    _guarded(repo, pristine, "SVC006")


FLASK = {
    "app.py": """from flask import Flask, request

app = Flask(__name__)


@app.route("/predict", methods=["POST"])
def predict():
    data = request.get_json()
    return {"n": len(data["rows"])}
""",
}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("files", "reason"),
    [
        (FLASK, "a Flask/Quart route"),
        ({"api.py": "# @generated by a tool\n" + NESTED["api.py"]}, "generated code"),
        (
            {
                "api.py": NESTED["api.py"],
                "tests/test_api.py": "def test_a(client):\n"
                '    client.post("/infer", json={"id": 1, "customer": {}})\n'
                '    client.post("/infer", json={"id": "a", "customer": {}})\n',
            },
            "is int and str in different examples",
        ),
        (
            {
                "api.py": NESTED["api.py"].replace(
                    '@app.post("/infer")', '@app.post("/infer")\n@app.post("/v2/infer")'
                ),
            },
            "is registered as 2 routes",
        ),
        (
            {
                "api.py": ROUTER_JSON["pkg/routes.py"].replace(
                    "rows = data", "rows = (await request.json())"
                ),
            },
            "reads `request.json()` 2 times",
        ),
    ],
    ids=["flask", "generated", "examples-disagree", "two-routes", "read-twice"],
)
def test_refusals(tmp_path: Path, files: dict[str, str], reason: str) -> None:
    repo, _pristine = _case(tmp_path, files)
    out = _fixed(repo, tmp_path)
    assert "refused SVC006" in out and reason in out, out
    assert (repo / next(iter(files))).read_text() == files[next(iter(files))]


def test_infer_model_types_and_refusals() -> None:
    mixed = infer_model("M", [{"a": 1, "b": "x", "c": None}, {"a": 2.5, "b": "y", "c": 3}])
    assert "a: float" in mixed.source and "b: str" in mixed.source
    assert "c: int | None\n" in mixed.source and 'extra="forbid"' in mixed.source
    optional = infer_model("M", [{"a": [True]}, {"a": [], "model_id": "m"}])
    assert "a: list[bool]" in optional.source and "model_id: str | None = None" in optional.source
    assert "protected_namespaces=()" in optional.source and 'extra="allow"' in optional.source
    assert optional.required == ("a",)
    for examples, reason in (
        ([], "no example"),
        ([[1, 2]], "not a JSON object"),
        ([{"a": None}], "null in every example"),
        ([{"a": 1}, {"a": True}], "bool and int"),
        ([{"not ok": 1}], "not a Python name"),
        ([{"a": [1, "x"]}], "int and str"),
    ):
        with pytest.raises(Refused, match=reason):
            infer_model("M", examples)


@pytest.mark.slow
def test_demo_no_validation_scenario(tmp_path: Path) -> None:
    """The demo scenario's repo has no tests: its traffic's good bodies go in with --input
    (as `demo no-validation --fix` passes them); the raw `dict` route gets a model."""
    from infermedic.demo.data import request_bodies
    from infermedic.demo.repository import write_scenario

    repo = write_scenario("no-validation", tmp_path / "repo")
    pristine = tmp_path / "pristine"
    shutil.copytree(repo, pristine)
    git_commit_all(repo)
    inputs: list[str] = []
    for number, example in enumerate(request_bodies("no-validation", 3)):
        path = tmp_path / f"body{number}.json"
        path.write_text(json.dumps(example))
        inputs += ["--input", str(path)]
    out = _fixed(repo, tmp_path, *inputs)
    assert "inferred from 3 example bodies" in out, out
    text = (repo / "app/main.py").read_text()
    assert "def predict(body: PredictRequest)" in text and "tenure_months: int" in text
    assert not findings(repo, "SVC006")
    _guarded(repo, pristine, "SVC006")


def test_a_file_that_no_longer_parses_is_refused(tmp_path: Path) -> None:
    from infermedic.audit import audit
    from infermedic.fix.base import Workspace
    from infermedic.fix.svc006 import FIXER

    repo = write(tmp_path / "repo", DICT_PARAM)
    finding = next(f for f in audit([repo]).findings if f.code == "SVC006")
    (repo / "svc/main.py").write_text("def broken(:\n")
    with pytest.raises(Refused, match="does not parse"):
        FIXER.apply(finding, Workspace(repo))
