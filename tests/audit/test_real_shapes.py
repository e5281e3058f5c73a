"""Shapes seen in real serving repositories (issue 15) that the fixtures cannot state alone:
severities that depend on other files, and the per-service judgement of SVC010."""

from __future__ import annotations

from pathlib import Path

from infermedic.audit import audit
from infermedic.model import Severity
from infermedic.settings import Settings

FLASK_APP = """\
from flask import Flask

app = Flask(__name__)


@app.route("/")
def index():
    return "ok"


if __name__ == "__main__":
    app.run(debug=True)
"""


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return root


def test_debug_run_is_low_when_a_production_server_serves_the_app(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "app.py": FLASK_APP,
            "Dockerfile": 'FROM python:3.12-slim\nCMD ["gunicorn", "app:app"]\n',
        },
    )
    (finding,) = audit([tmp_path], Settings(select=("SVC009",))).findings
    assert finding.severity is Severity.LOW
    assert "Dockerfile serves the app" in finding.message


def test_debug_run_is_medium_when_the_script_is_how_the_app_runs(tmp_path: Path) -> None:
    _write(tmp_path, {"app.py": FLASK_APP, "Procfile": "web: python app.py\n"})
    (finding,) = audit([tmp_path], Settings(select=("SVC009",))).findings
    assert finding.severity is Severity.MEDIUM


def test_a_commented_server_line_does_not_count(tmp_path: Path) -> None:
    _write(tmp_path, {"app.py": FLASK_APP, "Dockerfile": "FROM python\n# CMD gunicorn app:app\n"})
    (finding,) = audit([tmp_path], Settings(select=("SVC009",))).findings
    assert finding.severity is Severity.MEDIUM


def test_debug_run_stays_medium_when_a_container_runs_the_script(tmp_path: Path) -> None:
    # heroku.yml starts gunicorn, but the image's own command is `python app.py`
    _write(
        tmp_path,
        {
            "app.py": FLASK_APP,
            "heroku.yml": "run:\n  web: gunicorn app:app\n",
            "Dockerfile": 'FROM python:3.12-slim\nCMD ["python", "app.py"]\n',
        },
    )
    (finding,) = audit([tmp_path], Settings(select=("SVC009",))).findings
    assert finding.severity is Severity.MEDIUM


def test_debug_run_is_low_when_heroku_yml_serves_with_gunicorn(tmp_path: Path) -> None:
    _write(tmp_path, {"app.py": FLASK_APP, "heroku.yml": "run:\n  web: gunicorn app:app\n"})
    (finding,) = audit([tmp_path], Settings(select=("SVC009",))).findings
    assert finding.severity is Severity.LOW
    assert "heroku.yml serves the app" in finding.message


SERVICE = """\
import joblib
from fastapi import FastAPI

app = FastAPI()
model = joblib.load("model.joblib")


@app.get("{probe}")
def probe():
    return {{"ok": True}}


@app.post("/predict")
def predict(features: list[float]):
    return {{"label": int(model.predict([features])[0])}}
"""

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
        - name: {name}
          image: registry.example.com/{name}:1.0.0
          command: ["uvicorn", "{name}.app:app", "--host", "0.0.0.0"]
          ports: [{{containerPort: 8000}}]
          readinessProbe:
            httpGet: {{path: {probe}, port: 8000}}
"""


def test_probe_paths_are_judged_against_the_routes_of_the_service_they_run(
    tmp_path: Path,
) -> None:
    # `ranker` probes `/ready`, which only `scorer` defines: pooled routes would hide it.
    _write(
        tmp_path,
        {
            "scorer/__init__.py": "",
            "scorer/app.py": SERVICE.format(probe="/ready"),
            "ranker/__init__.py": "",
            "ranker/app.py": SERVICE.format(probe="/readyz"),
            "deploy/scorer.yaml": DEPLOYMENT.format(name="scorer", probe="/ready"),
            "deploy/ranker.yaml": DEPLOYMENT.format(name="ranker", probe="/ready"),
        },
    )
    findings = audit([tmp_path], Settings(select=("K8S003",))).findings
    assert [(f.location.path, f.location.line) for f in findings] == [("deploy/ranker.yaml", 16)]
    assert "`/ready`, which the app does not define" in findings[0].message
