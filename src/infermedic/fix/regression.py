"""Regression tests `fix --tests` writes into the user's repo, one file per fix.

Each is a pytest the user would keep, named `tests/regression/test_<code>_<where>.py`:

- a static guard: the repo audited with the fixed rule shows no finding of it in that file;
- for SVC001 in a FastAPI app, a behavioural test: the app runs in-process (its lifespan
  too) behind `httpx.ASGITransport`; the call the fix moved to a thread is replaced by one
  that holds until `/health` has answered. Before the fix the held call blocks the event
  loop, `/health` cannot answer and the hold times out: the test fails. After it, `/health`
  answers while the prediction is held. The verdict is an ordering, not a time threshold,
  so a busy machine cannot flip it.
"""

from __future__ import annotations

import re
from pathlib import Path

from infermedic.fix.base import Change
from infermedic.fix.yamledit import LIVE_PATHS, app_routes, first_of

TEST_DIR = "tests/regression"

_STATIC = '''"""Regression guard written by `infermedic fix`: {code} stays fixed in {path}.

Fixed: {summary}.
Finding: {message}
"""

from __future__ import annotations

from pathlib import Path

from infermedic.audit import audit
from infermedic.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_{func}() -> None:
    report = audit([ROOT], Settings(select=("{code}",)))
    back = [f for f in report.findings if f.code == "{code}" and f.location.path == {path!r}]
    assert not back, "\\n".join(f"{{f.location.describe()}}: {{f.message}}" for f in back)
'''

_BEHAVIOUR = '''

# --- behaviour: {health} answers while {route} is busy in its model call ---------------

import asyncio  # noqa: E402
import importlib  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402
import pytest  # noqa: E402

METHOD, PATH = {method!r}, {path_!r}
MODULE, APP, CALL = {module!r}, {app!r}, {callee!r}
HEALTH = {health!r}
HOLD_S = 5.0  # how long the held call waits for /health before giving up


def _example(schema: dict[str, Any], spec: dict[str, Any]) -> Any:
    """A value that satisfies `schema` (the route's OpenAPI request body)."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return _example(spec["components"]["schemas"][name], spec)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"]
            return _example(options[0], spec)
    if "examples" in schema and schema["examples"]:
        return schema["examples"][0]
    if "default" in schema:
        return schema["default"]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {{}})
        return {{k: _example(v, spec) for k, v in props.items()}}
    if kind == "array":
        return [_example(schema.get("items", {{}}), spec)] * max(1, schema.get("minItems", 1))
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
        high = schema.get("maximum", schema.get("exclusiveMaximum", low + 2))
        middle = (low + high) / 2
        return int(middle) if kind == "integer" else float(middle)
    if kind == "boolean":
        return False
    return "x" * max(1, schema.get("minLength", 1))


def _body(app: Any) -> Any:
    spec = app.openapi()
    operation = spec["paths"][PATH][METHOD.lower()]
    content = operation.get("requestBody", {{}}).get("content", {{}})
    schema = content.get("application/json", {{}}).get("schema")
    return None if schema is None else _example(schema, spec)


def test_{func}_health_answers_during_predict(monkeypatch: pytest.MonkeyPatch) -> None:
    sys.path.insert(0, str(ROOT))
    module = importlib.import_module(MODULE)
    app = getattr(module, APP)
    *owner_path, name = CALL.split(".")
    owner: Any = module
    for part in owner_path:
        owner = getattr(owner, part)
    real = getattr(owner, name)
    gate = threading.Event()
    seen: dict[str, Any] = {{}}

    def held(*args: Any, **kwargs: Any) -> Any:
        seen["thread"] = threading.current_thread()
        seen["released"] = gate.wait(timeout=HOLD_S)  # False: /health never got through
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, held)

    async def scenario() -> tuple[httpx.Response, httpx.Response]:
        seen["loop"] = threading.current_thread()
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
                body = _body(app)
                predict = asyncio.create_task(client.request(METHOD, PATH, json=body))
                while "thread" not in seen and not predict.done():
                    await asyncio.sleep(0.01)
                health = await client.get(HEALTH)
                gate.set()
                return await predict, health

    predicted, health = asyncio.run(scenario())
    assert "thread" in seen, f"{{METHOD}} {{PATH}} never reached {{CALL}}: {{predicted.text}}"
    assert seen["thread"] is not seen["loop"], f"{{CALL}} ran on the event loop thread"
    assert seen["released"], f"{{HEALTH}} could not answer while {{CALL}} ran"
    assert health.status_code == 200 and predicted.status_code == 200, predicted.text
'''


_VALIDATION = """

# --- behaviour: {route} answers 422 to a malformed body and still serves the example ---

import asyncio  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402

import httpx  # noqa: E402

METHOD, PATH = {method!r}, {path_!r}
MODULE, APP = {module!r}, {app!r}
# a body the repo's tests (or `fix --input`) post; the same with a wrong type, a field left out
EXAMPLE = json.loads({example!r})
MALFORMED = json.loads({malformed!r})


def test_{func}_rejects_malformed_body() -> None:
    sys.path.insert(0, str(ROOT))
    app = getattr(importlib.import_module(MODULE), APP)

    async def scenario() -> list[httpx.Response]:
        async with app.router.lifespan_context(app):
            # an exception in the route answers 500, as a server would, instead of raising
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
                return [
                    await client.request(METHOD, PATH, json=body)
                    for body in [*MALFORMED, EXAMPLE]
                ]

    *bad, good = asyncio.run(scenario())
    for body, answer in zip(MALFORMED, bad, strict=True):
        assert answer.status_code == 422, f"{{body}} -> {{answer.status_code}} {{answer.text}}"
    assert 200 <= good.status_code < 300, f"the example -> {{good.status_code}} {{good.text}}"
"""

_SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", "tests", "test"}


def validation(
    change: Change, root: Path, texts: dict[str, tuple[str, str]]
) -> tuple[str | None, str]:
    """The behavioural test for an SVC006 fix, or None and the reason it is not written."""
    details = change.details
    route = details.get("route", "").split(" ", 1)
    if len(route) != 2 or not details.get("malformed", "[]").strip("[]"):
        return None, "no malformed body could be made from the example"
    apps: list[tuple[str, str]] = []
    for path in sorted(root.rglob("*.py"))[:2000]:
        relpath = path.relative_to(root).as_posix()
        if _SKIP_DIRS & set(relpath.split("/")[:-1]):
            continue
        try:
            text = texts[relpath][1] if relpath in texts else path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        for found in re.finditer(r"^(\w+)\s*=\s*(?:fastapi\.)?FastAPI\(", text, re.M):
            module = relpath.removesuffix(".py").replace("/", ".").removesuffix(".__init__")
            apps.append((module, found[1]))
    if len(apps) != 1:
        return None, f"{len(apps)} `app = FastAPI(...)` in the repo: cannot tell which serves it"
    return (
        _VALIDATION.format(
            method=route[0],
            path_=route[1],
            module=apps[0][0],
            app=apps[0][1],
            example=details["example"],
            malformed=details["malformed"],
            route=" ".join(route),
            func=_func(change),
        ),
        "",
    )


def test_path(change: Change) -> str:
    return f"{TEST_DIR}/test_{change.code.lower()}_{change.where}.py"


def static_guard(change: Change) -> str:
    """The text of the static guard for `change`."""
    path = change.finding.location.path or change.path
    return _STATIC.format(
        code=change.code,
        path=path,
        summary=change.summary.replace('"""', "'''"),
        message=change.finding.message.replace('"""', "'''"),
        func=_func(change),
    )


def _func(change: Change) -> str:
    return f"{change.code.lower()}_stays_fixed_{change.where}"


def behaviour(change: Change, root: Path, fixed_text: str) -> tuple[str | None, str]:
    """The behavioural test for an SVC001 fix, or None and the reason it is not written."""
    details = change.details
    route = details.get("route", "").split(" ", 1)
    if len(route) != 2 or not details.get("callee") or details.get("style") != "starlette":
        return None, "only a FastAPI route whose wrapped call is a plain name is exercised"
    app = re.search(r"^(\w+)\s*=\s*(?:fastapi\.)?FastAPI\(", fixed_text, re.M)
    if app is None:
        return None, f"no `app = FastAPI(...)` in {change.path}, so no request schema"
    health = first_of(app_routes(root), LIVE_PATHS)
    if health is None:
        return None, "the app registers no /health route to time"
    return (
        _BEHAVIOUR.format(
            method=route[0],
            path_=route[1],
            module=details["module"],
            app=app[1],
            callee=details["callee"],
            health=health,
            route=" ".join(route),
            func=_func(change),
        ),
        "",
    )


def tests_for(
    change: Change, root: Path, texts: dict[str, tuple[str, str]]
) -> tuple[dict[str, str], list[str]]:
    """`relpath -> text` of the regression test file for one change, and notes."""
    text = static_guard(change)
    notes: list[str] = []
    if change.code in ("SVC001", "SVC006"):
        if change.code == "SVC001":
            extra, why = behaviour(change, root, texts.get(change.path, ("", ""))[1])
        else:
            extra, why = validation(change, root, texts)
        if extra is None:
            notes.append(f"{test_path(change)}: static guard only ({why})")
        else:
            text += extra
    return {test_path(change): text}, notes
