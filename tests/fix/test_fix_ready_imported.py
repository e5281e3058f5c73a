"""SVC010 when the model lives in another module than the app, on services written unlike
the demo: a `model_store` module whose `load()` fills a global, called in the app's
lifespan; a `ModelRegistry` instance whose `load()` sets `self.model`; a getter module
whose loader the app imports by name. The gate reads the holder through its module (a
name imported from it keeps its import-time None). Two holders, or a holder filled only
by the first request, stay refused with the reason.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from infermedic.fix.engine import plan
from infermedic.settings import Settings
from tests.fix.helpers import (
    apply_with_tests,
    findings,
    generated_test,
    run_cli,
    run_elsewhere,
    run_pytest,
    run_python,
)
from tests.fix.services import git_commit_all, write
from tests.fix.serving import serve

_TRAIN = """
import joblib
from sklearn.linear_model import LogisticRegression

joblib.dump(
    LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1]), "svc/model.joblib"
)
"""
_ROUTES = """

@app.get("/health")
def health() -> dict[str, bool]:
    return {"ok": True}


@app.post("/predict")
def predict(x: float) -> dict[str, int]:
    return {"label": int(MODEL_OF().predict([[x]])[0])}
"""

MODEL_STORE = {
    "svc/__init__.py": "",
    "svc/model_store.py": '''"""The model, loaded by `load()` at start-up."""

from pathlib import Path

import joblib

MODEL = None


def load():
    global MODEL
    MODEL = joblib.load(Path(__file__).with_name("model.joblib"))
''',
    "svc/main.py": '''"""Scoring API; the model lives in model_store."""

from contextlib import asynccontextmanager

from fastapi import FastAPI

from . import model_store


@asynccontextmanager
async def startup(app):
    model_store.load()
    model_store.MODEL.predict([[0.0]])  # warm-up
    yield


app = FastAPI(lifespan=startup)
'''
    + _ROUTES.replace("MODEL_OF()", "model_store.MODEL"),
}

REGISTRY_CLASS = {
    "svc/__init__.py": "",
    "svc/models.py": '''"""A registry object that holds the model once `load()` ran."""

from pathlib import Path

import joblib


class ModelRegistry:
    def __init__(self, path):
        self.path = path

    def load(self):
        self.model = joblib.load(self.path)


registry = ModelRegistry(Path(__file__).with_name("model.joblib"))
''',
    "svc/main.py": '''"""Scoring API; the model is `registry.model`."""

from contextlib import asynccontextmanager

from fastapi import FastAPI

from svc.models import registry


@asynccontextmanager
async def lifespan(app):
    registry.load()
    yield


app = FastAPI(lifespan=lifespan)
'''
    + _ROUTES.replace("MODEL_OF()", "registry.model"),
}

GETTER = {
    "svc/__init__.py": "",
    "svc/store.py": '''"""Getter and loader of the model."""

from pathlib import Path

import joblib

_model = None


def load_model():
    global _model
    _model = joblib.load(Path(__file__).with_name("model.joblib"))


def get_model():
    return _model
''',
    "svc/main.py": '''"""Scoring API through a getter."""

from contextlib import asynccontextmanager

from fastapi import FastAPI

from .store import get_model, load_model


@asynccontextmanager
async def lifespan(app):
    load_model()
    yield


app = FastAPI(lifespan=lifespan)
'''
    + _ROUTES.replace("MODEL_OF()", "get_model()"),
}

# Refused: two modules hold a model; a holder only the first request fills
TWO_HOLDERS = {
    "svc/__init__.py": "",
    "svc/first.py": 'import joblib\n\nMODEL = joblib.load("svc/model.joblib")\n',
    "svc/second.py": 'import joblib\n\nFALLBACK = joblib.load("svc/model.joblib")\n',
    "svc/main.py": "from fastapi import FastAPI\n\nfrom svc.first import MODEL\n"
    "from svc.second import FALLBACK\n\napp = FastAPI()\n"
    + _ROUTES.replace("MODEL_OF()", "(MODEL or FALLBACK)"),
}
LAZY = {
    "svc/__init__.py": "",
    "svc/store.py": GETTER["svc/store.py"].replace(
        "def get_model():\n", "def get_model():\n    if _model is None:\n        load_model()\n"
    ),
    "svc/main.py": "from fastapi import FastAPI\n\nfrom .store import get_model\n\n"
    "app = FastAPI()\n" + _ROUTES.replace("MODEL_OF()", "get_model()"),
}


def _planned(tmp_path: Path, files: dict[str, str]) -> tuple[str, list[str]]:
    repo = write(tmp_path, files)
    done = plan(repo, Settings(select=("SVC010",)), ("SVC010",))
    text = done.texts["svc/main.py"][1] if "svc/main.py" in done.texts else ""
    return text, [r.reason for r in done.refusals]


@pytest.mark.parametrize(
    ("files", "gate", "after"),
    [
        (MODEL_STORE, "_ready_model_store.MODEL is not None", "    model_store.MODEL.predict"),
        (REGISTRY_CLASS, 'getattr(_ready_models.registry, "model", None)', "    registry.load()"),
        (GETTER, "_ready_store._model is not None", "    load_model()"),
    ],
    ids=["module-global", "registry-attribute", "getter"],
)
def test_holder_in_another_module_gates_ready(
    tmp_path: Path, files: dict[str, str], gate: str, after: str
) -> None:
    text, refused = _planned(tmp_path, files)
    assert not refused, refused
    assert f"    loaded = {gate}" in text, text
    # the warm-up mark follows the start-up load (and the warm-up after it)
    lines = text.splitlines()
    marked = lines.index(
        "    _WARMED_UP.set()  # /ready answers 200 from here on (`infermedic fix` SVC010)"
    )
    assert lines[marked - 1].startswith(after), text


@pytest.mark.parametrize(
    ("files", "reason"),
    [
        (TWO_HOLDERS, "cannot tell which object holds the model (svc/first.py:MODEL, "),
        (LAZY, "`svc.store._model` is filled by `load_model()`, which svc/main.py does not "),
    ],
    ids=["two-holders", "lazy"],
)
def test_ambiguous_or_lazy_holders_are_refused(
    tmp_path: Path, files: dict[str, str], reason: str
) -> None:
    text, refused = _planned(tmp_path, files)
    assert not text and len(refused) == 1 and reason in refused[0], refused


@pytest.mark.slow
@pytest.mark.parametrize("files", [MODEL_STORE, REGISTRY_CLASS], ids=["store", "registry"])
def test_fixed_service_serves_ready_and_its_test_fails_before(
    tmp_path: Path, files: dict[str, str]
) -> None:
    repo, pristine = write(tmp_path / "repo", files), write(tmp_path / "pristine", files)
    for root in (repo, pristine):
        assert run_python(root, _TRAIN).returncode == 0
    git_commit_all(repo)
    done = apply_with_tests(repo, "SVC010", tmp_path / "audit.jsonl")
    assert done.returncode == 0 and "fix     SVC010 svc/main.py" in done.stdout, done.stdout
    assert not findings(repo, "SVC010")
    relative = generated_test(repo, "SVC010")
    after = run_pytest(repo, relative)
    assert after.returncode == 0 and "2 passed" in after.stdout, after.stdout + after.stderr
    before = run_elsewhere(repo, relative, pristine)
    assert "2 failed" in before.stdout and "/ready answers 404 once started" in before.stdout
    # before the start-up load 503, after it 200 (in process: uvicorn loads before serving)
    loaded = run_python(
        repo,
        "from fastapi.testclient import TestClient\nfrom svc.main import app\n"
        "assert TestClient(app).get('/ready').status_code == 503\n"
        "with TestClient(app) as client:\n"
        "    assert client.get('/ready').json() == {'ready': True}\n",
    )
    assert loaded.returncode == 0, loaded.stderr
    with serve(repo, "svc.main:app", "/health", wsgi=False) as url:
        assert httpx.get(url + "/ready", timeout=60.0).status_code == 200
        answer = httpx.post(url + "/predict?x=3", timeout=60.0)
        assert answer.json() == {"label": 1}, answer.text
    again = run_cli(
        "fix",
        str(repo),
        "--audit-log",
        str(tmp_path / "audit.jsonl"),
        "--select",
        "SVC010",
        "--apply",
        "--allow-dirty",
    )
    assert "nothing to fix" in again.stdout, again.stdout
