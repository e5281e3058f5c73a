"""Services written for the fix tests, each in a different style from the demo's.

- `starlette_raw`: Starlette with raw `Route(...)` objects, the model call two calls down in
  a helper module imported under an alias, a `requests` call without timeout, `debug=True`,
  Kubernetes manifests (same liveness/readiness check, a container without probes, a
  memory-based autoscaler) and a Dockerfile starting four workers in shell form.
- `quart_like`: an async framework that is not Starlette (Quart, which is not installed
  here: a stand-in package provides the two names the service uses), so SVC001 gets the
  bounded executor form; its model call sits in the route, inside an expression.
- `torch_route`: FastAPI serving a torch module with autograd on, and loading a joblib
  model per request in a second route.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

STARLETTE_RAW = {
    "service/__init__.py": "",
    "service/model.py": '''"""Model helpers."""

import numpy as np
from sklearn.linear_model import LogisticRegression


def build():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    y = (x[:, 0] > 0).astype(int)
    return LogisticRegression().fit(x, y)


MODEL = build()


def score(rows):
    return MODEL.predict_proba(np.asarray(rows, dtype=float))[:, 1].tolist()
''',
    "service/app.py": '''"""Starlette service with raw routes."""

import requests
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from service import model as scoring

FEATURES_URL = "http://127.0.0.1:9/features"


async def health(request):
    return JSONResponse({"ok": True})


async def ready(request):
    return JSONResponse({"ready": scoring.MODEL is not None})


async def predict(request):
    body = await request.json()
    if body.get("enrich"):
        requests.get(FEATURES_URL)  # enrichment, best effort
    scores = scoring.score(body["rows"])  # the model runs here
    return JSONResponse({"scores": scores})


app = Starlette(
    debug=True,
    routes=[
        Route("/health", health),
        Route("/ready", ready),
        Route("/predict", predict, methods=["POST"]),
    ],
)
''',
    "deploy/deployment.yaml": """# the scoring deployment
apiVersion: apps/v1
kind: Deployment
metadata:
  name: scorer
spec:
  replicas: 2
  selector:
    matchLabels: {app: scorer}
  template:
    metadata:
      labels: {app: scorer}
    spec:
      containers:
        - name: scorer
          image: scorer:1
          ports:
            - containerPort: 8000
          livenessProbe:   # same as readiness
            httpGet:
              path: /health
              port: 8000
          readinessProbe:
            httpGet:
              path: /health
              port: 8000
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: batch
spec:
  selector:
    matchLabels: {app: batch}
  template:
    metadata:
      labels: {app: batch}
    spec:
      containers:
        - name: batch
          image: scorer:1
          ports:
            - containerPort: 8000
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: scorer
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: scorer}
  minReplicas: 2
  maxReplicas: 5
  metrics:
    - type: Resource
      resource:
        name: memory  # scale on memory
        target: {type: Utilization, averageUtilization: 80}
""",
    "Dockerfile": """FROM python:3.11-slim
COPY . /srv
WORKDIR /srv
# serve
CMD uvicorn service.app:app --host 0.0.0.0 --port 8000 --workers 4
""",
}

QUART_STANDIN = {
    # A stand-in for Quart (not installed here): only what the service below touches.
    "quart/__init__.py": """class Quart:
    def __init__(self, name):
        self.name = name

    def post(self, path):
        return lambda function: function

    def get(self, path):
        return lambda function: function
""",
}

QUART_LIKE = {
    "api.py": '''"""A Quart service: the model call is inside an expression in the route."""

import threading

import numpy as np
from quart import Quart
from sklearn.tree import DecisionTreeClassifier

app = Quart(__name__)
rng = np.random.default_rng(1)
model = DecisionTreeClassifier(max_depth=3).fit(rng.normal(size=(50, 2)), rng.integers(0, 2, 50))
CALLS = []  # (thread name) of each model call, for the tests


class Traced:
    def __init__(self, inner):
        self.inner = inner

    def predict(self, rows):
        CALLS.append(threading.current_thread().name)
        return self.inner.predict(rows)


traced = Traced(model)


@app.post("/predict")
async def predict(rows):
    return {"labels": [int(v) for v in traced.predict(np.asarray(rows))]}
''',
}

TORCH_ROUTE = {
    "server/__init__.py": "",
    "server/main.py": '''"""FastAPI + torch; a second route loads its model per request."""

from pathlib import Path

import joblib
import torch
from fastapi import FastAPI

app = FastAPI(title="torch", debug=True)


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 1)

    def forward(self, x):
        return self.linear(x)


net = Net()
net.eval()
ARTIFACT = Path(__file__).with_name("tree.joblib")


@app.post("/score")
def score(values: list[float]) -> dict[str, float]:
    tensor = torch.tensor([values], dtype=torch.float32)
    out = net(tensor)
    return {"score": float(out[0, 0])}


@app.post("/tree")
def tree(values: list[float]) -> dict[str, int]:
    model = joblib.load(ARTIFACT)
    return {"label": int(model.predict([values])[0])}
''',
}


def write(root: Path, files: dict[str, str]) -> Path:
    for relpath, text in files.items():
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def git_commit_all(root: Path) -> None:
    """Make `root` a git repo with everything committed (what `--apply` requires)."""
    env = ["-c", "user.email=fix@test", "-c", "user.name=fix-test", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "init", "-q", str(root)], check=True, timeout=60)
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True, timeout=60)
    subprocess.run(["git", *env, "-C", str(root), "commit", "-qm", "start"], check=True, timeout=60)
