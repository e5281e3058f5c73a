"""Services for the fix tests that nothing in the project resembles (see `test_fix_unseen`).

- `ROUTER_SRC`: FastAPI in a `src/` layout; the routes sit on an `APIRouter(prefix="/v1")`
  in their own module, the model is a wrapper class, the blocking model call is three calls
  down through helpers, a second route loads its artifact per request, the prediction log
  appends to a CSV file through a helper; a repo test posts an example body.
- `STARLETTE_MOUNT`: Starlette with a `Mount("/api", routes=[...])`, the model a global loaded
  in the lifespan and warmed up there, the blocking call two calls down, no readiness route.
- `FLASK_BLUEPRINT`: Flask with a blueprint, debug switched on in config, an upstream call
  without timeout, a per-request load (one keyed by the request: refused), a prediction log
  insert into sqlite, no readiness route.
- `DEPLOY_SET`: Kubernetes manifests with comments (one probe for both, a container with no
  probes, an autoscaler on memory) and a Dockerfile running gunicorn with four workers.
- `REFUSALS`: a generated module (marker at the top) and a route whose model call is
  ambiguous (two different `.predict` in one route): both refused, with the reason.
"""

from __future__ import annotations

_TRAIN = """
def _train():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(300, 3))
    return LogisticRegression().fit(x, (x[:, 0] + x[:, 1] > 0).astype(int))
"""

ROUTER_SRC = {
    "pyproject.toml": '[project]\nname = "ranker"\nversion = "0"\n',
    "src/ranker/__init__.py": "",
    "src/ranker/model.py": '''"""The ranking model behind a small wrapper class."""

from pathlib import Path

import joblib
import numpy as np
from sklearn.linear_model import LogisticRegression

ARTIFACT = Path(__file__).with_name("ranker.joblib")
'''
    + _TRAIN
    + '''

class Ranker:
    """Scores rows; the estimator stays private."""

    def __init__(self, estimator):
        self._estimator = estimator

    def scores(self, rows):
        return self._estimator.predict_proba(np.asarray(rows, dtype=float))[:, 1]


joblib.dump(_train(), ARTIFACT)
RANKER = Ranker(joblib.load(ARTIFACT))
''',
    "src/ranker/pipeline.py": '''"""Helpers: the model call is three calls below the route."""

from ranker.model import RANKER


def _clean(rows):
    return [[float(v) for v in row] for row in rows]


def _score(rows):
    return RANKER.scores(rows)


def rank(rows):
    scored = _score(_clean(rows))
    return sorted(range(len(scored)), key=lambda i: -scored[i])
''',
    "src/ranker/audit_log.py": '''"""The prediction log: one CSV line per ranking."""

import csv
import os

LOG = os.environ.get("RANKER_LOG", "/tmp/infermedic-ranker-log.csv")


def log_prediction(rows, order):
    with open(LOG, "a", newline="") as handle:
        csv.writer(handle).writerow([len(rows), " ".join(map(str, order))])
''',
    "src/ranker/routes.py": '''"""The ranking routes."""

import joblib
from fastapi import APIRouter
from pydantic import BaseModel

from ranker.audit_log import log_prediction
from ranker.model import ARTIFACT
from ranker.pipeline import rank

router = APIRouter(prefix="/v1")


class Items(BaseModel):
    rows: list[list[float]]


@router.post("/rank")
async def rank_items(items: Items) -> dict[str, list[int]]:
    order = rank(items.rows)  # the model runs in here
    log_prediction(items.rows, order)
    return {"order": order}


@router.post("/score")
def score_items(items: Items) -> dict[str, list[float]]:
    estimator = joblib.load(ARTIFACT)
    return {"scores": estimator.predict_proba(items.rows)[:, 1].tolist()}
''',
    "src/ranker/app.py": '''"""The ranking service."""

from fastapi import FastAPI

from ranker.routes import router

app = FastAPI(title="ranker")
app.include_router(router)


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}
''',
    "tests/test_app.py": """from fastapi.testclient import TestClient

from ranker.app import app


def test_rank() -> None:
    client = TestClient(app)
    answer = client.post("/v1/rank", json={"rows": [[1.0, 2.0, 0.0], [-1.0, -2.0, 0.0]]})
    assert answer.json() == {"order": [0, 1]}
""",
}

STARLETTE_MOUNT = {
    "scoring/__init__.py": "",
    "scoring/engine.py": '''"""The model and the helpers around it."""

from pathlib import Path

import joblib
import numpy as np
from sklearn.linear_model import LogisticRegression
'''
    + _TRAIN
    + """

def _predict(model, rows):
    return model.predict_proba(np.asarray(rows, dtype=float))[:, 1].tolist()


def score_rows(model, rows):
    return _predict(model, rows)


ARTIFACT = Path(__file__).with_name("scorer.joblib")
joblib.dump(_train(), ARTIFACT)
""",
    "scoring/server.py": '''"""Starlette scoring service, routes mounted under /api."""

from contextlib import asynccontextmanager

import joblib
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from scoring.engine import ARTIFACT, score_rows

WARM_ROWS = [[0.0, 0.0, 0.0]]
model = None


@asynccontextmanager
async def lifespan(app):
    global model
    model = joblib.load(ARTIFACT)
    model.predict(WARM_ROWS)  # warm-up: the first request does not pay for it
    yield


async def healthz(request):
    return JSONResponse({"ok": True})


async def score(request):
    payload = await request.json()
    values = score_rows(model, payload["rows"])
    return JSONResponse({"scores": values})


app = Starlette(
    routes=[
        Route("/healthz", healthz),
        Mount("/api", routes=[Route("/score", score, methods=["POST"])]),
    ],
    lifespan=lifespan,
)
''',
    "tests/test_server.py": """from starlette.testclient import TestClient

from scoring.server import app


def test_score() -> None:
    with TestClient(app) as client:
        answer = client.post("/api/score", json={"rows": [[2.0, 2.0, 0.0]]})
        assert answer.json()["scores"][0] > 0.5
""",
}

FLASK_BLUEPRINT = {
    "webapp/__init__.py": "",
    "webapp/store.py": '''"""The prediction log in sqlite."""

import sqlite3
import threading

DB = sqlite3.connect(":memory:", check_same_thread=False)
DB.execute("CREATE TABLE predictions (label INTEGER)")
WRITE = threading.Lock()  # one connection, many request threads: writes take turns


def save_prediction(label):
    with WRITE:
        DB.execute("INSERT INTO predictions VALUES (?)", (label,))
        DB.commit()
''',
    "webapp/views.py": '''"""The prediction blueprint."""

import joblib
import requests
from flask import Blueprint, jsonify, request

from webapp.store import save_prediction

bp = Blueprint("predictions", __name__, url_prefix="/p")
ARTIFACT = "/tmp/infermedic-fix-blueprint.joblib"
UPSTREAM = "http://127.0.0.1:9/enrich"


@bp.route("/predict", methods=["POST"])
def predict():
    features = request.get_json()["features"]
    model = joblib.load(ARTIFACT)
    label = int(model.predict([features])[0])
    save_prediction(label)
    return jsonify(label=label)


@bp.route("/by-name", methods=["POST"])
def by_name():
    name = request.get_json()["name"]
    named = joblib.load(f"/tmp/{name}.joblib")  # one model per name: keyed by the request
    return jsonify(label=int(named.predict([[0.0, 0.0]])[0]))


@bp.route("/enrich", methods=["POST"])
def enrich():
    extra = requests.post(UPSTREAM, json=request.get_json())
    return jsonify(extra.json())
''',
    "webapp/main.py": '''"""The Flask app."""

import joblib
import numpy as np
from flask import Flask, jsonify
from sklearn.tree import DecisionTreeClassifier

from webapp.views import ARTIFACT, bp

rng = np.random.default_rng(5)
x = rng.normal(size=(100, 2))
joblib.dump(DecisionTreeClassifier(max_depth=2).fit(x, (x[:, 0] > 0).astype(int)), ARTIFACT)

app = Flask(__name__)
app.config["DEBUG"] = True
app.register_blueprint(bp)
classifier = joblib.load(ARTIFACT)


@app.route("/health")
def health():
    return jsonify(ok=classifier is not None)
''',
    "tests/test_views.py": """from webapp.main import app


def test_predict() -> None:
    answer = app.test_client().post("/p/predict", json={"features": [1.0, 0.0]})
    assert answer.get_json() == {"label": 1}
""",
}

DEPLOY_SET = {
    "app/__init__.py": "",
    "app/web.py": '''"""A small service whose deployment files are the subject."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/health")
def health() -> dict[str, bool]:
    return {"alive": True}


@app.get("/ready")
def ready() -> dict[str, bool]:
    return {"ready": True}


@app.post("/predict")
def predict(value: float) -> dict[str, float]:
    return {"value": value * 2}
''',
    "k8s/app.yaml": """# scorer: the web tier
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web  # keep in sync with the service
  labels:
    tier: web
spec:
  replicas: 3
  selector:
    matchLabels:
      tier: web
  template:
    metadata:
      labels:
        tier: web
    spec:
      containers:
        - name: web
          image: registry.local/web:2
          ports:
            - containerPort: 8080
          # one probe for both
          livenessProbe:
            httpGet: {path: /health, port: 8080}
            periodSeconds: 5
          readinessProbe:
            httpGet: {path: /health, port: 8080}
            periodSeconds: 5
        - name: sidecar-model
          image: registry.local/web:2
          command: ["gunicorn", "app.web:app", "-k", "uvicorn.workers.UvicornWorker"]
          ports:
            - containerPort: 8081
""",
    "k8s/hpa.yaml": """apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: web
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: web
  minReplicas: 3
  maxReplicas: 12
  metrics:
    # memory, because the model is big
    - type: Resource
      resource:
        name: memory
        target:
          type: Utilization
          averageUtilization: 75
""",
    "Dockerfile": """# build
FROM python:3.11-slim AS base
WORKDIR /app
COPY . .
EXPOSE 8080
# four workers for throughput
CMD ["gunicorn", "app.web:app", "-k", "uvicorn.workers.UvicornWorker", "-w", "4", \\
     "-b", "0.0.0.0:8080"]
""",
}

REFUSALS = {
    "svc/__init__.py": "",
    "svc/generated_api.py": '''# Code generated by openapi-generator. DO NOT EDIT.
"""Generated routes."""

import numpy as np
from fastapi import FastAPI
from sklearn.dummy import DummyClassifier

app = FastAPI(debug=True)
model = DummyClassifier().fit(np.zeros((4, 2)), [0, 1, 0, 1])


@app.post("/predict")
async def predict(rows: list[list[float]]) -> dict[str, list[int]]:
    return {"labels": model.predict(rows).tolist()}
''',
    "svc/two.py": '''"""A route with two wrapped models: which `.predict` blocks?"""

import numpy as np
from fastapi import FastAPI
from sklearn.dummy import DummyClassifier, DummyRegressor

from svc.helpers import Wrapped

app = FastAPI()
first = Wrapped(DummyClassifier().fit(np.zeros((4, 2)), [0, 1, 0, 1]))
second = Wrapped(DummyRegressor().fit(np.zeros((4, 2)), [0.0, 1.0, 0.0, 1.0]))


@app.get("/health")
def health() -> dict[str, bool]:
    return {"ok": True}


@app.post("/predict")
async def predict(rows: list[list[float]]) -> dict[str, float]:
    label = first.predict(rows)[0]
    return {"label": float(label), "score": float(second.predict(rows)[0])}
''',
    "svc/helpers.py": '''"""A model behind a wrapper."""

import numpy as np


class Wrapped:
    def __init__(self, model):
        self.model = model

    def predict(self, rows):
        return self.model.predict(np.asarray(rows, dtype=float))
''',
}

# An explainer built per request (XPL001); shap need not be installed: only audited.
EXPLAINER = {
    "explain/__init__.py": "",
    "explain/api.py": '''"""Explanations per request."""

import numpy as np
import shap
from fastapi import FastAPI
from sklearn.linear_model import LinearRegression

app = FastAPI()
BACKGROUND = np.zeros((10, 2))
model = LinearRegression().fit(np.eye(2), [0.0, 1.0])


@app.post("/explain")
def explain(values: list[float]) -> dict[str, list[float]]:
    explainer = shap.KernelExplainer(model.predict, BACKGROUND)
    return {"shap": explainer.shap_values(np.asarray([values]))[0].tolist()}
''',
}

# A repo test posting a body of the right shape to the torch service's per-request route
# (its OpenAPI schema, `list[float]`, does not say how many).
TORCH_EXAMPLE = {
    "tests/test_server.py": """from fastapi.testclient import TestClient

from server.main import app


def test_tree() -> None:
    assert TestClient(app).post("/tree", json=[1.0, 1.0, 1.0, 1.0]).status_code == 200
""",
}
