"""More services for the fix tests, written unlike the demo's, for SVC002/005/010 and MON001.

- `FLASK_LOGGING`: Flask, a model loaded at import, no readiness route, and a prediction log
  written to sqlite by a helper two calls down; the sink waits on a gate the test controls.
- `SRC_STARLETTE`: a `src/` layout Starlette app, model built in a start-up global, no
  readiness route.
- `FASTAPI_STATE`: FastAPI with the model on `app.state` from its lifespan and an
  `on_event`-free app; no readiness route.
- `FASTAPI_ON_EVENT`: FastAPI with an `on_event("startup")` handler and a per-request load
  (the lifespan form would silence the handler: the module-level cache is used).
- `PSI_MONITOR`: drift monitoring code computing PSI over equal-width bins three ways.
"""

from __future__ import annotations

FLASK_LOGGING = {
    "scoring/__init__.py": "",
    "scoring/sink.py": '''"""The prediction log: one sqlite row per prediction."""

import sqlite3
import threading

GATE = threading.Event()  # tests hold the write here
WAITED = []  # whether each write saw the gate open within its wait
DB = sqlite3.connect(":memory:", check_same_thread=False)
DB.execute("CREATE TABLE predictions (features TEXT, label INTEGER)")
WRITE = threading.Lock()  # one connection, many request threads: writes take turns
FAIL = []  # a truthy entry makes the next write fail


def insert_row(features, label):
    WAITED.append(GATE.wait(timeout=3.0))
    if FAIL:
        raise RuntimeError("the log database is down")
    with WRITE:
        DB.execute("INSERT INTO predictions VALUES (?, ?)", (str(features), label))
        DB.commit()
''',
    "scoring/web.py": '''"""Flask scoring service."""

import joblib
import numpy as np
from flask import Flask, jsonify, request
from sklearn.linear_model import LogisticRegression

from scoring.sink import insert_row

app = Flask(__name__)
rng = np.random.default_rng(3)
x = rng.normal(size=(200, 2))
clf = LogisticRegression().fit(x, (x[:, 0] > 0).astype(int))
joblib.dump(clf, "/tmp/infermedic-fix-flask-model.joblib")
model = joblib.load("/tmp/infermedic-fix-flask-model.joblib")


def log_prediction(features, label):
    insert_row(features, label)


@app.route("/health")
def health():
    return jsonify(status="ok")


@app.route("/predict", methods=["POST"])
def predict():
    features = request.get_json()["features"]
    label = int(model.predict([features])[0])
    log_prediction(features, label)  # keep every prediction
    return jsonify(label=label)


@app.route("/explain", methods=["POST"])
def explain():
    artifact = joblib.load("/tmp/infermedic-fix-flask-model.joblib")
    return jsonify(coef=artifact.coef_.tolist())
''',
}

SRC_STARLETTE = {
    "pyproject.toml": '[project]\nname = "scorer"\nversion = "0"\n',
    "src/scorer/__init__.py": "",
    "src/scorer/app.py": '''"""Starlette scorer (src/ layout); the model is loaded at start-up."""

from contextlib import asynccontextmanager
from pathlib import Path

import joblib
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

ARTIFACT = Path(__file__).with_name("model.joblib")
model = None


@asynccontextmanager
async def lifespan(app):
    global model
    model = joblib.load(ARTIFACT)
    yield


async def livez(request):
    return JSONResponse({"alive": True})


async def score(request):
    rows = (await request.json())["rows"]
    return JSONResponse({"labels": [int(v) for v in model.predict(rows)]})


app = Starlette(
    routes=[Route("/livez", livez), Route("/score", score, methods=["POST"])],
    lifespan=lifespan,
)
''',
}

FASTAPI_STATE = {
    "svc/__init__.py": "",
    "svc/api.py": '''"""FastAPI: the model lives on app.state."""

from contextlib import asynccontextmanager

from pathlib import Path

import joblib
from fastapi import FastAPI, Request


@asynccontextmanager
async def lifespan(app: FastAPI):
    app.state.model = joblib.load(Path(__file__).with_name("model.joblib"))
    yield


app = FastAPI(lifespan=lifespan)


@app.post("/predict")
async def predict(request: Request, rows: list[list[float]]) -> dict[str, list[int]]:
    return {"labels": request.app.state.model.predict(rows).tolist()}
''',
}

FASTAPI_ON_EVENT = {
    "api/__init__.py": "",
    "api/main.py": '''"""FastAPI with an on_event hook; the route loads its model per request."""

from pathlib import Path

import joblib
from fastapi import FastAPI

app = FastAPI()
ARTIFACT = Path(__file__).with_name("model.joblib")
STARTED = []


@app.on_event("startup")
def mark_started():
    STARTED.append(True)


@app.get("/health")
def health():
    return {"ok": True}


@app.get("/ready")
def ready():
    return {"ready": bool(STARTED)}


@app.post("/predict")
def predict(value: float) -> dict[str, float]:
    model = joblib.load(ARTIFACT)
    return {"score": float(model.predict([[value]])[0])}
''',
}

PSI_MONITOR = {
    "monitoring/__init__.py": "",
    "monitoring/psi.py": '''"""Drift monitoring."""

import numpy as np
import pandas as pd


def psi(expected, actual, n_bins=10):
    # edges over the range of the reference
    edges = np.linspace(expected.min(), expected.max(), n_bins + 1)
    ref = np.histogram(expected, edges)[0] / len(expected)
    cur = np.histogram(actual, edges)[0] / len(actual)
    ref, cur = np.clip(ref, 1e-6, None), np.clip(cur, 1e-6, None)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def population_stability(train, live):
    a = np.histogram(train, bins=20)[0] / len(train)
    b = np.histogram(live, bins=20)[0] / len(live)
    a, b = np.clip(a, 1e-6, None), np.clip(b, 1e-6, None)
    return float(np.sum((b - a) * np.log(b / a)))


def psi_frame(reference: pd.Series, current: pd.Series) -> float:
    r = pd.cut(reference, bins=10).value_counts(normalize=True, sort=False).to_numpy()
    c = pd.cut(current, bins=10).value_counts(normalize=True, sort=False).to_numpy()
    return float(np.sum((c - r) * np.log(np.clip(c, 1e-6, None) / np.clip(r, 1e-6, None))))
''',
}
