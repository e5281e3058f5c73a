"""Services that build their model on the first request (SVC011), each written differently:
a FastAPI module-level getter, a Starlette model-holder class, a Flask route with the guard
inline, a FastAPI `@lru_cache` getter beside a start-up handler, and the shapes the fix must
refuse. The model artifact is made by `ARTIFACT` (run in the repo before the first commit).
"""

from __future__ import annotations

ARTIFACT = (
    "import joblib\nfrom sklearn.dummy import DummyClassifier\n"
    "joblib.dump(DummyClassifier(strategy='most_frequent').fit([[0, 0], [1, 1]], [0, 1]), "
    "'model.joblib')\n"
)

FASTAPI_GETTER = {
    "service/__init__.py": "",
    "service/main.py": '''"""Scores one row; the model is read on first use."""

import joblib
from fastapi import FastAPI

app = FastAPI(title="scorer")
_model = None


def get_model():
    """The model, read from disk the first time it is needed."""
    global _model
    if _model is None:
        _model = joblib.load("model.joblib")
    return _model


@app.get("/health")
def health():
    return {"status": "ok"}


@app.post("/predict")
def predict(features: list[float]):
    return {"label": int(get_model().predict([features])[0])}
''',
}

STARLETTE_HOLDER = {
    "api/__init__.py": "",
    "api/holder.py": '''"""Holds the model; it is read on first use."""

import threading

import joblib


class ModelHolder:
    def __init__(self, path: str = "model.joblib") -> None:
        self.path = path
        self._model = None
        self._lock = threading.Lock()

    def get(self):
        with self._lock:
            if self._model is None:
                self._model = joblib.load(self.path)
            return self._model
''',
    "api/server.py": '''"""Starlette routes: readiness says yes as soon as the process answers."""

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from api.holder import ModelHolder

holder = ModelHolder()


async def ready(request: Request) -> JSONResponse:
    return JSONResponse({"ready": True})


async def predict(request: Request) -> JSONResponse:
    payload = await request.json()
    label = holder.get().predict([payload["features"]])[0]
    return JSONResponse({"label": int(label)})


app = Starlette(routes=[Route("/ready", ready), Route("/predict", predict, methods=["POST"])])
''',
    "tests/test_api.py": """from starlette.testclient import TestClient

from api.server import app


def test_predict():
    assert TestClient(app).post("/predict", json={"features": [1.0, 1.0]}).status_code == 200
""",
}

FLASK_INLINE = {
    "web/__init__.py": "",
    "web/app.py": '''"""Flask service; the pickle is read by the first prediction."""

import pickle

from flask import Flask, jsonify, request

app = Flask(__name__)
model = None


@app.route("/healthz")
def healthz():
    return jsonify(status="ok")


@app.route("/predict", methods=["POST"])
def predict():
    global model
    if model is None:
        with open("model.pkl", "rb") as handle:
            model = pickle.load(handle)
    return jsonify(label=int(model.predict([request.get_json()["features"]])[0]))
''',
}
FLASK_ARTIFACT = ARTIFACT.replace("joblib.dump(", "import pickle\npickle.dump(").replace(
    "'model.joblib')", "open('model.pkl', 'wb'))"
)

FASTAPI_CACHED_ON_EVENT = {
    "cached.py": """import functools

import joblib
from fastapi import FastAPI

app = FastAPI()
STARTED: list[bool] = []


@functools.lru_cache(maxsize=1)
def load():
    return joblib.load("model.joblib")


@app.on_event("startup")
def mark_started():
    STARTED.append(True)


@app.post("/predict")
def predict(features: list[float]):
    return {"label": int(load().predict([features])[0])}
""",
}

# refused: the getter needs an argument; the route is on a router made in another module
# than the app, which does not import the getter
REFUSED = {
    "needs_args.py": """import joblib
from fastapi import FastAPI

app = FastAPI()
_model = None


def get_model(path):
    global _model
    if _model is None:
        _model = joblib.load(path)
    return _model


@app.post("/predict")
def predict(features: list[float]):
    return {"label": int(get_model("model.joblib").predict([features])[0])}
""",
    "split/__init__.py": "",
    "split/routes.py": """import joblib
from fastapi import APIRouter

router = APIRouter()
_model = None


def get_model():
    global _model
    if _model is None:
        _model = joblib.load("model.joblib")
    return _model


@router.post("/score")
def score(features: list[float]):
    return {"label": int(get_model().predict([features])[0])}
""",
    "split/main.py": """from fastapi import FastAPI

from split.routes import router

app = FastAPI()
app.include_router(router)
""",
}
