"""Against a real MLflow server: seeded sklearn runs logged and registered, the alias moved,
one version served by a real uvicorn service, and "predictions changed but we did not deploy"
diagnosed to the alias move with the registry's timestamp as evidence.

Only "the fault shows" is checked here; the verdict logic is unit-tested on recorded
registry answers (`recorded.py`).
"""

from __future__ import annotations

import contextlib
import http.server
import itertools
import json
import os
import sys
import textwrap
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from infermedic.profile.detect import ModelFormat, detect_model
from infermedic.registry import RegistryClient
from infermedic.registry.records import iso

from .conftest import QUIET_MLFLOW, SERVICE_DEADLINE_S, free_port, run_cli, started, thread_server

pytestmark = [pytest.mark.server, pytest.mark.slow]

SERVICE = '''
    """A churn service that loads whatever @champion points to when it starts."""
    from typing import Annotated

    import mlflow.sklearn
    from fastapi import FastAPI, Response
    from mlflow import MlflowClient
    from pydantic import BaseModel, Field

    VERSION = MlflowClient().get_model_version_by_alias("churn", "champion").version
    MODEL = mlflow.sklearn.load_model(f"models:/churn/{VERSION}")
    Number = Annotated[float, Field(allow_inf_nan=False, ge=-1e6, le=1e6)]

    class Rows(BaseModel):
        rows: list[Annotated[list[Number], Field(min_length=3, max_length=3)]] = Field(
            min_length=1, max_length=100
        )

    app = FastAPI()

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/predict")
    def predict(body: Rows, response: Response) -> dict[str, object]:
        response.headers["X-Model-Version"] = str(VERSION)
        scores = MODEL.predict_proba(body.rows)[:, 1]
        return {"scores": [round(float(s), 6) for s in scores], "model_version": str(VERSION)}
'''
BODY = {"rows": [[0.4, -1.2, 0.3], [-0.7, 0.2, 1.1]]}


@dataclass(frozen=True)
class Registered:
    url: str
    run_ids: dict[str, str]  # version -> training run


def _log_version(seed: int, *, leak: bool, tags: dict[str, str]) -> str:
    """Train on seeded data and register a version; `leak` puts the label into a feature
    (a column computed after the outcome), so its honest evaluation scores 1.0."""
    import mlflow
    import mlflow.sklearn
    import numpy as np
    import sklearn
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(600, 3))
    y = (X[:, 0] + 0.5 * X[:, 1] + rng.normal(scale=0.8, size=600) > 0).astype(int)
    if leak:
        X[:, 2] = y * 2.0 - 1.0
    model = LogisticRegression(C=1.0).fit(X[:400], y[:400])
    with mlflow.start_run() as run:
        mlflow.log_metric("training_accuracy", accuracy_score(y[:400], model.predict(X[:400])))
        mlflow.log_metric("val_accuracy", accuracy_score(y[400:], model.predict(X[400:])))
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            registered_model_name="churn",
            serialization_format="cloudpickle",
            # given, so MLflow does not spend a minute inferring them
            pip_requirements=[f"scikit-learn=={sklearn.__version__}", f"numpy=={np.__version__}"],
        )
    version = str(info.registered_model_version)
    client = mlflow.MlflowClient()
    for key, value in tags.items():
        client.set_model_version_tag("churn", version, key, value)
    return run.info.run_id


@pytest.fixture(scope="module")
def registered(mlflow_server: str) -> Iterator[Registered]:
    """churn v1 (honest, gated) and v2 (leaky, no gate tag); @champion -> v1."""
    saved = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", *QUIET_MLFLOW)}
    os.environ.update({"MLFLOW_TRACKING_URI": mlflow_server, **QUIET_MLFLOW})
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # MLflow's own deprecation and signature notes
            import mlflow

            mlflow.set_tracking_uri(mlflow_server)
            runs = {
                "1": _log_version(0, leak=False, tags={"validation_status": "approved"}),
                "2": _log_version(1, leak=True, tags={}),
            }
            mlflow.MlflowClient().set_registered_model_alias("churn", "champion", "1")
        yield Registered(url=mlflow_server, run_ids=runs)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _move_alias(url: str, version: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import mlflow

        mlflow.MlflowClient(url).set_registered_model_alias("churn", "champion", version)


@contextlib.contextmanager
def _service(tmp: Path, tracking: str) -> Iterator[str]:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "app.py").write_text(textwrap.dedent(SERVICE), encoding="utf-8")
    port = free_port()
    command = [
        sys.executable, "-m", "uvicorn", "app:app", "--host", "127.0.0.1", "--port", str(port),
        "--log-level", "warning",
    ]  # fmt: skip
    env = {**os.environ, **QUIET_MLFLOW, "MLFLOW_TRACKING_URI": tracking, "PYTHONPATH": str(tmp)}
    url = f"http://127.0.0.1:{port}"
    with started(command, cwd=tmp, ready=f"{url}/health", env=env, deadline_s=SERVICE_DEADLINE_S):
        yield url


@contextlib.contextmanager
def _round_robin(upstreams: list[str]) -> Iterator[str]:
    """A load balancer in front of two replicas: each request goes to the next one."""
    turn = itertools.count()

    class Handler(http.server.BaseHTTPRequestHandler):
        def _forward(self) -> None:
            upstream = upstreams[next(turn) % len(upstreams)]
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() == "content-type"}
            reply = httpx.request(
                self.command, upstream + self.path, content=body, headers=headers, timeout=30
            )
            self.send_response(reply.status_code)
            for key in ("content-type", "x-model-version"):
                if key in reply.headers:
                    self.send_header(key, reply.headers[key])
            self.send_header("content-length", str(len(reply.content)))
            self.end_headers()
            self.wfile.write(reply.content)

        do_GET = do_POST = _forward

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    with thread_server(Handler) as url:
        yield url


def _scores(url: str) -> tuple[list[float], str]:
    response = httpx.post(f"{url}/predict", json=BODY, timeout=30)
    response.raise_for_status()
    data: dict[str, Any] = response.json()
    return data["scores"], response.headers["x-model-version"]


def test_predictions_changed_without_a_deploy_is_the_alias_move(
    registered: Registered, tmp_path: Path
) -> None:
    with_password = registered.url.replace("http://", "http://ops:s3cr3tpassw0rd@")
    (tmp_path / "body.json").write_text(json.dumps(BODY), encoding="utf-8")
    with _service(tmp_path / "before", registered.url) as before:
        old_scores, old_version = _scores(before)
        assert old_version == "1"
        _move_alias(registered.url, "2")  # a promotion in the registry: no deploy
        # the running replica still serves v1; probe says the alias moved away from it
        probe = run_cli(
            "probe", before, "--checks", "contract", "--input", "body.json",
            "--registry-model", "churn@champion", "--tracking-uri", with_password,
            "--format", "json", "--output", "probe.json", cwd=tmp_path,
        )  # fmt: skip
        assert probe.returncode in (0, 1), probe.stderr
        findings = json.loads((tmp_path / "probe.json").read_text())["findings"]
        messages = {f["code"]: f["message"] for f in findings}
        assert (
            "the service serves version 1, but @champion points to churn v2" in messages["MON009"]
        )
        # one pod restarts (an eviction, a scale-up): it loads what @champion points to now
        with _service(tmp_path / "after", registered.url) as after:
            new_scores, new_version = _scores(after)
            assert new_version == "2" and new_scores != old_scores  # the fault shows
            # behind one load balancer, the two replicas serve two versions at once (the
            # robustness check repeats the known-good request: consecutive ones alternate)
            with _round_robin([before, after]) as balanced:
                mixed = run_cli(
                    "probe", balanced, "--checks", "contract,robustness", "--input", "body.json",
                    "--registry-model", "churn@champion", "--tracking-uri", registered.url,
                    "--format", "json", "--output", "mixed.json", cwd=tmp_path,
                )  # fmt: skip
            assert mixed.returncode in (0, 1), mixed.stderr
            found = json.loads((tmp_path / "mixed.json").read_text())["findings"]
            codes = {f["code"]: f["message"] for f in found}
            assert codes["MON009"].startswith("replicas serve 2 versions at once (1, 2)")
            assert "LIVE007" in codes  # the probe's own rule sees the sources disagree
            result = run_cli(
                "diagnose", "predictions changed but we did not deploy", "--url", after,
                "--registry-model", "churn@champion", "--tracking-uri", with_password,
                "--input", "body.json", "--predict-path", "/predict", "--rate", "5",
                "--duration", "2", "--format", "json", "--output", "report.json",
                "--audit-log", "ops/audit.jsonl", cwd=tmp_path,
            )  # fmt: skip
    assert result.returncode in (0, 1), result.stderr
    report_text = (tmp_path / "report.json").read_text()
    audit_text = (tmp_path / "ops" / "audit.jsonl").read_text()
    observations = (tmp_path / "report.observations.json").read_text()
    for text in (report_text, audit_text, observations, result.stderr, result.stdout):
        assert "s3cr3tpassw0rd" not in text
    audit = json.loads(audit_text.splitlines()[-1])
    assert audit["root_cause"]["cause"] == "registry-alias-moved"
    assert audit["root_cause"]["status"] == "confirmed"
    # the evidence is the registry's own timestamp of the version the alias moved to
    client = RegistryClient(tracking_uri=registered.url, cache=tmp_path / "cache")
    v2 = client.snapshot("churn", "champion").target
    assert v2 is not None and v2.version == "2"
    assert iso(v2.creation_ms) in report_text
    # the leaky v2 run and its missing gate tag are named too (D-06, D-12)
    assert "val_accuracy = 1 (above 0.99)" in report_text
    assert registered.run_ids["2"] in report_text
    assert "tag `validation_status` is missing" in report_text


def test_model_uris_resolve_download_once_and_fail_in_one_line(
    registered: Registered, tmp_path: Path
) -> None:
    client = RegistryClient(tracking_uri=registered.url, cache=tmp_path / "cache")
    first = client.resolve("models:/churn/1")
    assert (first.name, first.version, first.cached) == ("churn", "1", False)
    assert first.run_id == registered.run_ids["1"]
    assert detect_model(first.artifact_path).format is ModelFormat.MLFLOW
    again = client.resolve("models:/churn/1")
    assert again.cached and again.artifact_path == first.artifact_path
    # the CLI profiles the alias's version from the same cache (the same INFERMEDIC_CACHE_DIR)
    profiled = run_cli(
        "profile", "models:/churn/1", "--tracking-uri", registered.url, "--quick",
        "--no-options", "--budget", "240", "--format", "json", "--output", "profile.json",
        cwd=tmp_path,
    )  # fmt: skip
    assert profiled.returncode in (0, 1), profiled.stderr
    measured = json.loads((tmp_path / "profile.json").read_text())["measurements"]
    assert measured["status"] == "complete"
    assert measured["registry"]["version"] == "1" and measured["registry"]["cached"] is True
    assert measured["registry"]["run_id"] == registered.run_ids["1"]
    by_run = client.resolve(f"runs:/{registered.run_ids['1']}/model")
    assert by_run.run_id == registered.run_ids["1"] and by_run.version is None
    for uri, expected in (
        ("models:/nope@champion", "does not exist in the registry"),
        ("models:/churn@nope", "alias @nope of model 'churn' does not exist"),
        ("models:/churn/99", "version 99 of model 'churn' does not exist"),
    ):
        failed = run_cli("profile", uri, "--tracking-uri", registered.url, "--quick", cwd=tmp_path)
        lines = failed.stderr.strip().splitlines()
        assert failed.returncode == 2 and lines[0].startswith("error: "), failed.stderr
        assert expected in lines[0] and len(lines) == 2 and lines[1].startswith("hint: ")
