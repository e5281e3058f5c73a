"""SVC010's `/ready` waits for the model's load and its warm-up: where the warm-up flag is
set, for each way a service holds its model (a real audit of a tiny repo finds the finding).
A model held in another module: `test_fix_ready_imported`, `test_fix_unseen` (router_src).
"""

from __future__ import annotations

from pathlib import Path

from infermedic.fix.engine import plan
from infermedic.settings import Settings
from tests.fix.helpers import run_python
from tests.fix.services import write

MARK = "_WARMED_UP.set()  # /ready answers 200 from here on"

LIFESPAN_WARM = """from contextlib import asynccontextmanager

import joblib
from fastapi import FastAPI

state = {}


def warm_up(model):
    model.predict([[0.0]])


@asynccontextmanager
async def lifespan(app):
    state["model"] = joblib.load("m.joblib")
    warm_up(state["model"])
    print("loaded")
    yield
    state.clear()


app = FastAPI(lifespan=lifespan)


@app.get("/health")
def health():
    return {"ok": True}


@app.post("/predict")
def predict(x: float):
    return {"y": float(state["model"].predict([[x]])[0])}
"""

MODULE_LEVEL = """import joblib
from flask import Flask

app = Flask(__name__)
try:
    model = joblib.load("m.joblib")
except FileNotFoundError:
    model = None


@app.route("/predict", methods=["POST"])
def predict():
    return {"y": float(model.predict([[1.0]])[0])}
"""


def _fixed(root: Path, files: dict[str, str]) -> tuple[str, str]:
    """The fixed app text and the fix's summary (or its refusal)."""
    write(root, files)
    result = plan(root, Settings(select=("SVC010",)), ("SVC010",))
    if result.refusals:
        return "", result.refusals[0].reason
    assert len(result.changes) == 1, result
    return result.texts["app.py"][1], result.changes[0].summary


def test_the_flag_is_set_after_the_warm_up_that_follows_the_load(tmp_path: Path) -> None:
    text, summary = _fixed(tmp_path, {"app.py": LIFESPAN_WARM})
    # after the warm-up, before what follows it (not a warm-up) and the yield
    assert f'    warm_up(state["model"])\n    {MARK}' in text, text
    assert "_WARMED_UP = threading.Event()" in text and "import threading" in text
    assert 'loaded = "model" in state and _WARMED_UP.is_set()' in text
    assert 'set after the warm-up `warm_up(state["model"])`' in summary
    compile(text, "app.py", "exec")


def test_without_a_warm_up_the_flag_follows_each_load_and_the_review_says_so(
    tmp_path: Path,
) -> None:
    text, summary = _fixed(tmp_path, {"app.py": MODULE_LEVEL})
    # the load inside `try:` is marked; `model = None` (the failure branch) is not
    assert f'    model = joblib.load("m.joblib")\n    {MARK}' in text, text
    assert text.count(MARK) == 1
    assert "loaded = model is not None and _WARMED_UP.is_set()" in text
    assert "set after the load (no warm-up found)" in summary


def test_the_gate_opens_only_after_load_and_warm_up(tmp_path: Path) -> None:
    """The fixed Flask app, served in-process: 503 while the flag is clear, 200 after."""
    text, _ = _fixed(tmp_path / "repo", {"app.py": MODULE_LEVEL})
    write(tmp_path / "repo", {"app.py": text})
    made = run_python(
        tmp_path / "repo",
        "import joblib\nfrom sklearn.dummy import DummyRegressor\n"
        "joblib.dump(DummyRegressor().fit([[0.0]], [1.0]), 'm.joblib')\n"
        "import app\nclient = app.app.test_client()\n"
        "assert client.get('/ready').status_code == 200\n"
        "app._WARMED_UP.clear()\nassert client.get('/ready').status_code == 503\n"
        "app._WARMED_UP.set()\napp.model = None\n"
        "assert client.get('/ready').status_code == 503\n",
    )
    assert made.returncode == 0, made.stderr
