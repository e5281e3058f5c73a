"""SVC011's fix on differently written services: the lazily built model now loads at start-up.

Planning (in-process, no server): each service gets its start-up call where its framework
runs start-up code, the re-audit is clean, a second plan changes nothing, and the shapes
that cannot be fixed are refused with the reason. Live (slow): the fixed repo parses,
imports, serves under uvicorn or gunicorn on 127.0.0.1, and the generated regression test
passes on it and fails on a pristine copy (the behavioural one for its own reason: start-up
never called the initializer).
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import httpx
import pytest

from infermedic.audit import audit
from infermedic.fix.engine import plan, write
from infermedic.settings import Settings
from tests.fix import services_lazy as lazy
from tests.fix.helpers import run_cli, run_pytest, run_python
from tests.fix.services import git_commit_all
from tests.fix.services import write as write_files
from tests.fix.serving import serve

SELECT = Settings(select=("SVC011",))


def _plan(root: Path) -> tuple[list[str], list[str], dict[str, str]]:
    result = plan(root, SELECT, ("SVC011",))
    texts = {rel: after for rel, (_before, after) in result.texts.items()}
    return [c.summary for c in result.changes], [r.reason for r in result.refusals], texts


@pytest.mark.parametrize(
    ("files", "edited", "expected"),
    [
        (lazy.FASTAPI_GETTER, "service/main.py", "    get_model()  # `infermedic fix` SVC011\n"),
        (lazy.STARLETTE_HOLDER, "api/server.py", "    holder.get()  # `infermedic fix` SVC011\n"),
        (lazy.FLASK_INLINE, "web/app.py", "\n_load_model()  # `infermedic fix` SVC011\n"),
        (lazy.FASTAPI_CACHED_ON_EVENT, "cached.py", "    load()  # `infermedic fix` SVC011\n"),
    ],
    ids=["fastapi-getter", "starlette-holder", "flask-inline", "fastapi-cache-on-event"],
)
def test_the_load_moves_to_start_up_and_a_second_run_changes_nothing(
    files: dict[str, str], edited: str, expected: str, tmp_path: Path
) -> None:
    root = write_files(tmp_path / "repo", files)
    assert [f.code for f in audit([root], SELECT).findings] == ["SVC011"]
    summaries, refusals, texts = _plan(root)
    assert len(summaries) == 1 and not refusals, (summaries, refusals)
    assert set(texts) == {edited}
    assert expected in texts[edited], texts[edited]
    ast.parse(texts[edited])
    write(root, texts)
    assert not audit([root], SELECT).findings
    again, refused, changed = _plan(root)
    assert not again and not refused and not changed


def test_flask_inline_guard_moves_into_a_loader_the_route_calls(tmp_path: Path) -> None:
    root = write_files(tmp_path / "repo", lazy.FLASK_INLINE)
    _summaries, _refusals, texts = _plan(root)
    text = texts["web/app.py"]
    tree = ast.parse(text)
    loader = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name != "healthz")
    assert loader.name == "_load_model"
    assert isinstance(loader.body[1], ast.Global) and loader.body[1].names == ["model"]
    route = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "predict")
    calls = [ast.unparse(n) for n in ast.walk(route) if isinstance(n, ast.Call)]
    assert "_load_model()" in calls
    assert not any(isinstance(n, ast.If) for n in ast.walk(route))


def test_the_on_event_handler_gets_the_call_rather_than_a_lifespan(tmp_path: Path) -> None:
    """A lifespan would silence the `on_event` handler: the call joins the handler."""
    root = write_files(tmp_path / "repo", lazy.FASTAPI_CACHED_ON_EVENT)
    _summaries, _refusals, texts = _plan(root)
    text = texts["cached.py"]
    assert "lifespan" not in text
    assert "    STARTED.append(True)\n    load()  # `infermedic fix` SVC011\n" in text


def test_unsafe_shapes_are_refused_with_the_reason(tmp_path: Path) -> None:
    root = write_files(tmp_path / "repo", lazy.REFUSED)
    assert len(audit([root], SELECT).findings) == 2
    summaries, refusals, texts = _plan(root)
    assert not summaries and not texts
    assert sorted(refusals) == [
        "`needs_args.get_model` takes arguments: it cannot run before a request",
        "no FastAPI, Starlette or Flask app is made in split/routes.py",
    ]


# -- live: real servers, the generated regression tests before and after ------------------
LIVE = {
    "fastapi-getter": (
        lazy.FASTAPI_GETTER,
        lazy.ARTIFACT,
        "service.main:app",
        "/health",
        False,
        "_model_loads_at_start_up",
    ),
    "starlette-holder": (
        lazy.STARLETTE_HOLDER,
        lazy.ARTIFACT,
        "api.server:app",
        "/ready",
        False,
        "_model_loads_at_start_up",
    ),
    "flask-inline": (lazy.FLASK_INLINE, lazy.FLASK_ARTIFACT, "web.app:app", "/healthz", True, ""),
}


@pytest.mark.slow
@pytest.mark.server
@pytest.mark.parametrize("name", sorted(LIVE))
def test_fixed_service_serves_and_its_regression_test_fails_before(
    name: str, tmp_path: Path
) -> None:
    files, artifact, target, health, wsgi, behaviour = LIVE[name]
    repo, pristine = tmp_path / "repo", tmp_path / "pristine"
    for root in (repo, pristine):
        write_files(root, files)
        made = run_python(root, artifact)
        assert made.returncode == 0, made.stderr
    git_commit_all(repo)
    first = run_cli("fix", str(repo), "--select", "SVC011", "--apply", "--tests")
    assert first.returncode == 0, first.stderr
    assert "fix     SVC011" in first.stdout and "refused" not in first.stdout, first.stdout
    tests = sorted((repo / "tests" / "regression").glob("test_svc011_*.py"))
    assert len(tests) == 1, first.stdout
    test_text = tests[0].read_text()
    assert ("def test_svc011_" in test_text) and (behaviour in test_text)
    module = target.split(":")[0]
    loaded = run_python(repo, f"import {module}")
    assert loaded.returncode == 0, loaded.stderr
    with serve(repo, target, health, wsgi=wsgi) as url:
        body: object = [1.0, 1.0] if target.startswith("service.") else {"features": [1.0, 1.0]}
        answer = httpx.post(url + "/predict", json=body, timeout=60)
        assert answer.status_code == 200, answer.text
    assert not [f for f in audit([repo]).findings if f.code == "SVC011"]
    again = run_cli("fix", str(repo), "--select", "SVC011", "--apply", "--allow-dirty")
    assert "nothing to fix" in again.stdout, again.stdout
    relative = tests[0].relative_to(repo)
    after = run_pytest(repo, str(relative))
    assert after.returncode == 0, after.stdout + after.stderr
    (pristine / relative).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(tests[0], pristine / relative)
    before = run_pytest(pristine, str(relative))
    assert before.returncode != 0, before.stdout
    if behaviour:
        assert f"{behaviour} FAILED" in before.stdout or "start-up never called" in before.stdout
        assert "start-up never called" in before.stdout, before.stdout
