"""SVC007 without a model registry: the version the repo's own deployment files pin.

Services unlike the demo: a Kubernetes manifest (several documents, comments) setting
`MODEL_VERSION`, a compose file setting `CHURN_MODEL_VERSION` as `X=2` items, a Dockerfile
`ENV`. The URI then reads that variable with the pinned version as its default; the fixed
module evaluates to that version with the variable unset and follows it when set. Two
values, or a value that is no version number, are not guessed between.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from infermedic.demo.repository import write_scenario
from infermedic.fix.engine import plan
from infermedic.fix.svc007 import NO_REGISTRY
from infermedic.settings import Settings
from tests.fix.helpers import findings, run_python
from tests.fix.services import write

SOURCE = '''"""Scoring: the model is loaded at start-up from the registry."""

import mlflow

MODEL_URI = "models:/churn/latest"


def load():
    return mlflow.pyfunc.load_model(MODEL_URI)
'''
K8S = """# scoring service
apiVersion: v1
kind: Service
metadata:
  name: scoring
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: scoring
spec:
  template:
    spec:
      containers:
        - name: scoring
          image: scoring:1.4.0
          env:
            - name: LOG_LEVEL
              value: info
            # the reviewed model
            - name: MODEL_VERSION
              value: "7"
"""
COMPOSE = """services:
  scoring:
    build: .
    environment:
      - LOG_LEVEL=info
      - CHURN_MODEL_VERSION=2
"""
DOCKERFILE = 'FROM python:3.12-slim\nENV MODEL_VERSION=4 PORT=8000\nCMD ["python", "-m", "svc"]\n'


@pytest.fixture(autouse=True)
def _no_ambient_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


@pytest.mark.parametrize(
    ("deploy", "variable", "version"),
    [
        ({"deploy/k8s/scoring.yaml": K8S}, "MODEL_VERSION", "7"),
        ({"docker-compose.yml": COMPOSE}, "CHURN_MODEL_VERSION", "2"),
        ({"Dockerfile": DOCKERFILE}, "MODEL_VERSION", "4"),
    ],
    ids=["kubernetes", "compose", "dockerfile"],
)
def test_the_uri_reads_the_version_the_deployment_pins(
    tmp_path: Path, deploy: dict[str, str], variable: str, version: str
) -> None:
    repo = write(tmp_path, {"svc/__init__.py": "", "svc/scoring.py": SOURCE, **deploy})
    result = plan(repo, Settings(select=("SVC007",)), ("SVC007",))
    assert not result.refusals, result.refusals
    text = result.texts["svc/scoring.py"][1]
    expected = f"MODEL_URI = f\"models:/churn/{{os.environ.get('{variable}', '{version}')}}\""
    assert expected in text and "import os\n" in text, text
    assert f"({variable} in {next(iter(deploy))})" in text
    write(repo, {"svc/scoring.py": text})
    assert not findings(repo, "SVC007")
    # unset: the pinned version; set by the deployment: what it says
    evaluated = run_python(
        repo,
        "import os\nfrom svc import scoring\nprint(scoring.MODEL_URI)\n"
        f"os.environ[{variable!r}] = '9'\nimport importlib\n"
        "print(importlib.reload(scoring).MODEL_URI)\n",
    )
    assert evaluated.returncode == 0, evaluated.stderr
    assert evaluated.stdout.split() == [f"models:/churn/{version}", "models:/churn/9"]
    again = plan(repo, Settings(select=("SVC007",)), ("SVC007",))
    assert not again.changes and not again.refusals


def test_two_pinned_versions_or_none_are_not_guessed(tmp_path: Path) -> None:
    staging = K8S.replace('value: "7"', 'value: "8"')
    repo = write(
        tmp_path / "two",
        {"svc/scoring.py": SOURCE, "k8s/prod.yaml": K8S, "k8s/staging.yaml": staging},
    )
    result = plan(repo, Settings(select=("SVC007",)), ("SVC007",))
    (reason,) = [r.reason for r in result.refusals]
    assert "pin different model versions (MODEL_VERSION=7 (k8s/prod.yaml); " in reason
    assert "MODEL_VERSION=8 (k8s/staging.yaml))" in reason
    # an alias or a template is no version number: no pin read, the registry refusal
    latest = K8S.replace('value: "7"', "value: latest")
    repo = write(tmp_path / "alias", {"svc/scoring.py": SOURCE, "k8s/prod.yaml": latest})
    result = plan(repo, Settings(select=("SVC007",)), ("SVC007",))
    assert [r.reason for r in result.refusals] == [NO_REGISTRY]


def test_demo_version_mismatch_without_a_registry_serves_the_pinned_version(
    tmp_path: Path,
) -> None:
    repo = write_scenario("version-mismatch", tmp_path / "repo")
    result = plan(repo, Settings(select=("SVC007",)), ("SVC007",))
    assert not result.refusals, result.refusals
    write(repo, {"app/main.py": result.texts["app/main.py"][1]})
    served = run_python(
        repo,
        "import warnings\nwarnings.simplefilter('ignore')\n"
        "from fastapi.testclient import TestClient\nfrom app.main import app, state\n"
        "with TestClient(app) as client:\n    print(state['version'])\n",
    )
    assert served.returncode == 0, served.stderr
    assert served.stdout.split()[-1] == "3", served.stdout  # the deployment's, not latest (4)
    shutil.rmtree(repo)
