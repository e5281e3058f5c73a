"""The shipped Grafana dashboard and Prometheus alerts use metrics a real service exports.

Every PromQL expression is parsed with `promql-parser` (the Rust parser Prometheus-compatible
tools use), and every metric it selects must be one that a real instrumented FastAPI
service, served by uvicorn in a subprocess, lists on its `/metrics`.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import promql_parser
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from infermedic.instrument.monitoring import alert_names, alert_rules, grafana_dashboard

SERVICE = """
    from contextlib import asynccontextmanager

    from fastapi import FastAPI

    from infermedic.instrument import PredictionLogger, Readiness, instrument, stage

    readiness = Readiness()
    log = PredictionLogger("predlog")

    @asynccontextmanager
    async def lifespan(app):
        readiness.model_loaded()
        readiness.warm_up(lambda rows: rows, [[1.0]])
        yield

    api = FastAPI(lifespan=lifespan)

    @api.post("/predict")
    async def predict(body: dict) -> dict:
        with stage("predict"):
            score = float(body.get("x", 0.0)) / 10
        log.log(body, score > 0.5, outputs={"score": score})
        return {"score": score}

    @api.get("/boom")
    async def boom() -> dict:
        raise RuntimeError("planted")

    app = instrument(api, model_name="churn", model_version="3", readiness=readiness,
                     prediction_logger=log)
"""
# Prometheus adds `up` itself for every scrape target.
SYNTHETIC = {"up"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def exported_names(tmp_path_factory: pytest.TempPathFactory) -> Iterator[set[str]]:
    """Every series name a real instrumented service exports after some traffic."""
    root = tmp_path_factory.mktemp("monitored")
    (root / "service.py").write_text(textwrap.dedent(SERVICE), encoding="utf-8")
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), *sys.path])}
    command = [sys.executable, "-m", "uvicorn", "service:app", "--host", "127.0.0.1"]
    process = subprocess.Popen(
        [*command, "--port", str(port), "--log-level", "warning"],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and process.poll() is None, "did not start"
            time.sleep(0.1)
        for x in range(5):
            httpx.post(url + "/predict", json={"x": x}, timeout=10)
        httpx.get(url + "/boom", timeout=10)
        text = httpx.get(url + "/metrics", timeout=10).text
    finally:
        process.terminate()
        process.wait(timeout=20)
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        # A labelled metric with no children yet lists only its family: name the series
        # its type will have.
        suffixes = {
            "counter": ("_total",),
            "histogram": ("_bucket", "_count", "_sum"),
        }.get(family.type, ("",))
        names.update(family.name + suffix for suffix in suffixes)
        names.update(sample.name for sample in family.samples)
    yield names


def _selected_metrics(node: Any) -> set[str]:
    """The metric names an expression selects. promql-parser exposes a typed AST but no
    visitor, so this walks its node attributes."""
    if isinstance(node, promql_parser.VectorSelector):
        return {node.name} if node.name else set()
    found: set[str] = set()
    for attribute in ("lhs", "rhs", "expr", "vector_selector", "param"):
        child = getattr(node, attribute, None)
        if child is not None:
            found |= _selected_metrics(child)
    for arg in getattr(node, "args", None) or ():
        found |= _selected_metrics(arg)
    return found


def _dashboard_exprs() -> list[str]:
    dashboard = json.loads(grafana_dashboard())
    return [
        target["expr"].replace("$__rate_interval", "5m")
        for panel in dashboard["panels"]
        for target in panel.get("targets", ())
    ]


def _alert_exprs(job: str = "inference") -> list[str]:
    rules = yaml.safe_load(alert_rules(job))
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def test_every_alert_expression_parses_and_selects_exported_metrics(
    exported_names: set[str],
) -> None:
    exprs = _alert_exprs()
    assert len(exprs) == len(alert_names()) >= 8
    for expr in exprs:
        selected = _selected_metrics(promql_parser.parse(expr))
        assert selected, expr
        assert selected - SYNTHETIC <= exported_names, (expr, selected - exported_names)


def test_every_dashboard_query_parses_and_selects_exported_metrics(
    exported_names: set[str],
) -> None:
    exprs = _dashboard_exprs()
    assert len(exprs) >= 12
    for expr in exprs:
        selected = _selected_metrics(promql_parser.parse(expr))
        assert selected and selected <= exported_names, (expr, selected - exported_names)


def test_the_walker_sees_a_metric_that_does_not_exist(exported_names: set[str]) -> None:
    # The check above could pass vacuously if the walker found nothing: it must report
    # names, including a wrong one.
    expr = "histogram_quantile(0.99, sum by (le) (rate(no_such_metric_bucket[5m]))) > 1"
    assert _selected_metrics(promql_parser.parse(expr)) == {"no_such_metric_bucket"}
    assert "no_such_metric_bucket" not in exported_names


def test_gauges_are_not_read_as_histograms() -> None:
    # The old prevention advice took a "p99" of the loop-lag gauge: quantiles only over
    # histogram buckets.
    for expr in _alert_exprs() + _dashboard_exprs():
        if "histogram_quantile" in expr:
            assert "_bucket" in expr, expr


def test_dashboard_layout_is_valid() -> None:
    dashboard = json.loads(grafana_dashboard())
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, panel["title"]
                cells.add((x, y))
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert {"datasource", "job", "instance"} <= variables


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    command = [sys.executable, "-m", "infermedic", "monitoring", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


def test_cli_writes_both_files_with_the_job(tmp_path: Path) -> None:
    result = _cli(str(tmp_path / "mon"), "--job", "churn-api")
    assert result.returncode == 0, result.stderr
    rules = yaml.safe_load((tmp_path / "mon" / "prometheus-alerts.yaml").read_text())
    heartbeat = [r for g in rules["groups"] for r in g["rules"] if "up{" in r["expr"]]
    assert heartbeat and all('job="churn-api"' in r["expr"] for r in heartbeat)
    json.loads((tmp_path / "mon" / "grafana-dashboard.json").read_text())
    again = _cli(str(tmp_path / "mon"))
    assert again.returncode == 2 and "--overwrite" in again.stderr
    assert "Traceback" not in again.stderr
    bad = _cli(str(tmp_path / "x"), "--job", 'a"} or vector(1)')
    assert bad.returncode == 2 and not (tmp_path / "x").exists()


def test_prevention_advice_names_only_alerts_that_ship() -> None:
    import re

    from infermedic.diagnose.causes import CAUSES

    named = {
        name
        for cause in CAUSES
        for item in cause.prevention
        for name in re.findall(r"`(Inference[A-Za-z]+)`", item)
    }
    assert len(named) >= 6
    assert named <= set(alert_names())
