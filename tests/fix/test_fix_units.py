"""Small, fast checks of the fix machinery: line mapping, argument layout, line edits and
manifest round trips, each through a real audit of a tiny repo where a finding is needed."""

from __future__ import annotations

import asyncio
import shutil
import sys
from pathlib import Path

import libcst as cst
import pytest

from infermedic.fix.base import Refused, Workspace
from infermedic.fix.engine import plan
from infermedic.fix.pyedit import with_arg, without_arg
from infermedic.settings import Settings
from tests.fix.services import QUART_STANDIN, write

SERVICE = """from fastapi import FastAPI

app = FastAPI()


@app.get("/health")
def health():
    return {"ok": True}
"""


def test_workspace_maps_original_lines_through_earlier_edits(tmp_path: Path) -> None:
    write(tmp_path, {"a.py": "one\ntwo\nthree\n"})
    space = Workspace(tmp_path)
    space.write("a.py", "zero\none\ntwo\nTHREE\n")
    assert space.line("a.py", 1) == 2 and space.line("a.py", 2) == 3
    assert space.line("a.py", 3) == 4  # edited in place: still one line for one
    space.write("a.py", "zero\none\nsplit\nin two\nTHREE\n")
    with pytest.raises(Refused, match="an earlier fix changed a.py:2"):
        space.line("a.py", 2)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("f(a, b)", "f(a, b, timeout=10)"),
        ("f()", "f(timeout=10)"),
        ("f(\n    a,\n    b,\n)", "f(\n    a,\n    b,\n    timeout=10,\n)"),
        ("f(\n    a,\n)", "f(\n    a,\n    timeout=10,\n)"),
    ],
)
def test_with_arg_keeps_the_layout(source: str, expected: str) -> None:
    call = cst.parse_expression(source)
    assert isinstance(call, cst.Call)
    arg = cst.Arg(
        keyword=cst.Name("timeout"),
        value=cst.Integer("10"),
        equal=cst.AssignEqual(
            whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")
        ),
    )
    assert cst.Module(body=[]).code_for_node(with_arg(call, arg)) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("A(title='x', debug=True)", "A(title='x')"),
        ("A(debug=True, title='x')", "A(title='x')"),
        ("A(\n    debug=True,\n    title='x',\n)", "A(\n    title='x',\n)"),
        ("A(\n    title='x',\n    debug=True,\n)", "A(\n    title='x',\n)"),
        ("A(debug=True)", "A()"),
    ],
)
def test_without_arg_keeps_the_layout(source: str, expected: str) -> None:
    call = cst.parse_expression(source)
    assert isinstance(call, cst.Call)
    debug = next(a for a in call.args if a.keyword is not None and a.keyword.value == "debug")
    assert cst.Module(body=[]).code_for_node(without_arg(call, debug)) == expected


@pytest.mark.parametrize(
    ("line", "fixed"),
    [
        (
            'CMD ["uvicorn", "app:app", "--workers", "4", "--port", "80"]',
            'CMD ["uvicorn", "app:app", "--port", "80"]',
        ),
        ("CMD gunicorn -w 4 -k uvicorn.workers.UvicornWorker app:app", None),
        ("CMD uvicorn app:app --workers=8 --port 80", "CMD uvicorn app:app --port 80"),
        ("ENV WEB_CONCURRENCY=4", "ENV WEB_CONCURRENCY=1"),
    ],
)
def test_one_worker_line_edits(tmp_path: Path, line: str, fixed: str | None) -> None:
    write(tmp_path, {"app.py": SERVICE, "Dockerfile": f"FROM python:3.11\n# keep\n{line}\n"})
    if "ENV" in line:
        (tmp_path / "Dockerfile").write_text(
            f"FROM python:3.11\n# keep\n{line}\nCMD uvicorn app:app --port 80\n"
        )
    result = plan(tmp_path, Settings(select=("DKR002",)), ("DKR002",))
    assert [c.code for c in result.changes] == ["DKR002"], result.refusals
    after = result.texts["Dockerfile"][1]
    assert "# keep\n" in after
    if fixed is None:  # gunicorn -w 4: the flag and its value go, the rest stays
        assert "CMD gunicorn -k uvicorn.workers.UvicornWorker app:app\n" in after
    else:
        assert f"{fixed}\n" in after


HPA = """apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: scorer
spec:
  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: scorer}}
  minReplicas: 2
  maxReplicas: 5
  metrics:
  - type: Resource
    resource:
      name: memory
      target:
        {target}
"""


def test_memory_metric_becomes_cpu_in_pyyaml_layout(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "app.py": SERVICE,
            "hpa.yaml": HPA.format(target="type: Utilization\n        averageUtilization: 75"),
        },
    )
    result = plan(tmp_path, Settings(select=("K8S001",)), ("K8S001",))
    assert [c.code for c in result.changes] == ["K8S001"], result.refusals
    before, after = result.texts["hpa.yaml"]
    assert after == before.replace("name: memory", "name: cpu")


def test_absolute_memory_target_is_refused(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "app.py": SERVICE,
            "hpa.yaml": HPA.format(target="type: AverageValue\n        averageValue: 500Mi"),
        },
    )
    result = plan(tmp_path, Settings(select=("K8S001",)), ("K8S001",))
    assert not result.changes and "absolute value" in result.refusals[0].reason


def test_manifest_ruamel_cannot_reproduce_is_refused(tmp_path: Path) -> None:
    odd = (
        HPA.format(target="type: Utilization\n        averageUtilization: 75")
        .replace(
            "  metrics:\n  - type: Resource\n    resource:\n      name: memory",
            "  metrics:\n  -   type: Resource\n      resource:\n         name: memory",
        )
        .replace("      target:\n        type", "         target:\n            type")
        .replace("        averageUtilization", "            averageUtilization")
    )
    write(tmp_path, {"app.py": SERVICE, "hpa.yaml": odd})
    result = plan(tmp_path, Settings(select=("K8S001",)), ("K8S001",))
    assert not result.changes
    assert "cannot reproduce hpa.yaml exactly" in result.refusals[0].reason


TWO_CALLS = '''"""Two model calls on one line, and a second route in the same module."""
import numpy as np
from quart import Quart
from sklearn.tree import DecisionTreeClassifier

app = Quart(__name__)
model = DecisionTreeClassifier().fit([[0, 0], [1, 1]], [0, 1])


@app.post("/a")
async def a(rows):
    labels = model.predict(np.asarray(rows))
    return {"labels": labels.tolist()}


@app.post("/b")
async def b(rows):
    return {"p": model.predict_proba(rows)[:, 1].tolist(), "n": len(model.predict(rows))}
'''


def test_two_calls_on_one_line_and_one_shared_executor(tmp_path: Path) -> None:
    write(tmp_path, {"api.py": TWO_CALLS, **QUART_STANDIN})
    result = plan(tmp_path, Settings(select=("SVC001",)), ("SVC001",))
    assert len(result.changes) == 3 and not result.refusals, result.refusals
    text = result.texts["api.py"][1]
    assert text.count("_EXECUTOR = ThreadPoolExecutor(") == 1
    assert text.count("run_in_executor(_EXECUTOR, functools.partial(model.predict") == 3
    assert '{"p": (await asyncio.get_running_loop()' in text  # `[:, 1]` applies to the result
    scope: dict[str, object] = {}
    sys.path.insert(0, str(tmp_path))
    try:
        exec(compile(text, "api.py", "exec"), scope)  # noqa: S102 - the fixed module itself
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("quart", None)
    b = scope["b"]
    assert asyncio.run(b([[0, 0], [1, 1]])) == {"p": [0.0, 1.0], "n": 2}  # type: ignore[operator]


def test_findings_in_helm_templates_and_health_checks_are_refused(tmp_path: Path) -> None:
    fixtures = Path(__file__).resolve().parents[1] / "fixtures"
    shutil.copytree(fixtures / "k8s" / "K8S001_helm_values", tmp_path / "chart-repo")
    result = plan(tmp_path / "chart-repo", Settings(select=("K8S001",)), ("K8S001",))
    assert not result.changes and "is a Helm template" in result.refusals[0].reason
    shutil.copytree(fixtures / "python" / "SVC004_healthcheck", tmp_path / "check-repo")
    result = plan(tmp_path / "check-repo", Settings(select=("SVC004",)), ("SVC004",))
    assert not result.changes and len(result.refusals) == 3
    assert all("health check command" in r.reason for r in result.refusals)
