"""Regression tests `fix --tests` writes into the user's repo, one file per fix.

Each is a pytest the user would keep, named `tests/regression/test_<code>_<where>.py`:

- a static guard: the repo audited with the fixed rule shows no finding of it in that file;
- where the cause is behavioural, a behavioural test that runs the app in-process (its
  start-up too; FastAPI, Starlette, or a WSGI app such as Flask):
  - SVC001: the call the fix moved to a thread is held until `/health` has answered;
    before the fix it holds the event loop and `/health` cannot answer;
  - SVC002: two predictions; the loader, counted, runs for the first at most, never for
    the second; four first requests at once (the first load held until all four reach
    it): one load;
  - SVC005: the prediction-log write is held until the answer is back; before the fix the
    answer waits for the write;
  - SVC010: `/ready` answers 200 once started, 503 with the warm-up flag cleared and 503
    with the model taken away;
  - SVC011: the app's start-up calls the lazy initializer, before the first request (ASGI
    apps; a Flask app loads it at import, before the test can count).
  The verdicts are orderings and counts (see `regression_text`), not time thresholds.

A behavioural test needs the app (a module-level `FastAPI(...)`, `Starlette(...)` or
`Flask(...)` found in the repo), the route's full path (router prefixes applied), and a
request body: the route's OpenAPI schema (FastAPI) or a literal body the repo's own tests
post to it. When one is missing the file holds the static guard only, and a note says why.
"""

from __future__ import annotations

import ast
import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infermedic.fix import regression_text as text
from infermedic.fix.base import Change, chain_evidence, route_label
from infermedic.fix.yamledit import LIVE_PATHS, app_routes, first_of
from infermedic.probe.repo_hints import RepoHints, repo_hints

TEST_DIR = "tests/regression"
BEHAVIOURAL = frozenset({"SVC001", "SVC002", "SVC005", "SVC006", "SVC010", "SVC011"})
_APPS = {
    "FastAPI": "fastapi",
    "Starlette": "starlette",
    "Flask": "flask",
    "Application": "aiohttp",  # `web.Application()`
}
_SKIP = {".git", ".venv", "venv", "node_modules", "tests", "test", "__pycache__"}


@dataclass(frozen=True, kw_only=True, slots=True)
class App:
    """A module-level app the repo makes."""

    relpath: str
    name: str
    framework: str  # fastapi, starlette, flask


class RepoFacts:
    """What the behavioural tests need to know about the repo, read once per plan."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @functools.cached_property
    def hints(self) -> RepoHints:
        return repo_hints(self.root)

    @functools.cached_property
    def apps(self) -> tuple[App, ...]:
        found: list[App] = []
        for path in sorted(self.root.rglob("*.py")):
            relative = path.relative_to(self.root)
            if any(part in _SKIP for part in relative.parts[:-1]):
                continue
            try:
                tree = ast.parse(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
                continue
            for node in tree.body:
                if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                    func = node.value.func
                    called = (
                        func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                    )
                    framework = _APPS.get(called)
                    if framework is None:
                        continue
                    found.extend(
                        App(relpath=relative.as_posix(), name=t.id, framework=framework)
                        for t in node.targets
                        if isinstance(t, ast.Name)
                    )
        return tuple(found)

    def app_for(self, relpath: str) -> App | None:
        """The app of the module `relpath`: made there, else the repo's only app."""
        here = [a for a in self.apps if a.relpath == relpath]
        if len(here) == 1:
            return here[0]
        return self.apps[0] if len(self.apps) == 1 and not here else None

    def full_path(self, relpath: str, line: int, handler: str) -> tuple[str, str] | None:
        """`(METHOD, /full/path)` of the route handler `handler` at `relpath:line`."""
        for route in self.hints.routes:
            if route.file == relpath and (
                route.line == line or route.handler.rsplit(".", 1)[-1] == handler
            ):
                return route.method, route.path
        return None

    def example(self, path: str) -> Any:
        found = self.hints.example_for(path)
        return None if found is None else found.body

    def examples(self) -> dict[str, Any]:
        """The first body the repo's tests post to each path (at most ten paths)."""
        found: dict[str, Any] = {}
        for example in self.hints.examples:
            if len(found) < 10 and example.path.startswith("/"):
                found.setdefault(example.path, example.body)
        return found


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
        if _SKIP & set(relpath.split("/")[:-1]):
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


def static_guard(change: Change, unfixed: frozenset[str] = frozenset()) -> str:
    """The text of the static guard for `change`; `unfixed` are the fingerprints of the same
    code's findings in that file that the fix left (refused), which the guard allows."""
    path = change.finding.location.path or change.path
    return text.STATIC.format(
        code=change.code,
        path=path,
        unfixed=sorted(unfixed),
        summary=change.summary.replace('"""', "'''"),
        message=change.finding.message.replace('"""', "'''"),
        func=_func(change),
    )


def _func(change: Change) -> str:
    return f"{change.code.lower()}_stays_fixed_{change.where}"


def import_name(root: Path, relpath: str) -> tuple[str, str]:
    """The folder (relative to `root`) a module is imported from, and its dotted name: the
    packages above it (folders with `__init__.py`) are part of the name (`src/pkg/app.py`
    -> `src`, `pkg.app`)."""
    parts = relpath.removesuffix(".py").split("/")
    top = len(parts) - 1
    while top > 0 and (root.joinpath(*parts[:top]) / "__init__.py").is_file():
        top -= 1
    names = parts[top:]
    if names[-1] == "__init__":
        names = names[:-1]
    return "/".join(parts[:top]) or ".", ".".join(names)


def _harness(
    change: Change, facts: RepoFacts, route: tuple[str, str], app: App
) -> tuple[str | None, str]:
    """The shared part of a behavioural test, or None and the reason it cannot be written."""
    method, path = route
    body = facts.example(path)
    if body is not None:
        source = "posted to it by the repo's own tests"
    elif app.framework == "fastapi":
        source = "None: see EXAMPLES, else built from the OpenAPI request schema"
    elif method in ("GET", "HEAD", "DELETE"):
        source = "the route takes no body"
    else:
        return (
            None,
            f"no request body for {method} {path}: no OpenAPI schema, no repo test posts one",
        )
    import_root, app_module = import_name(facts.root, app.relpath)
    module_root, module = import_name(facts.root, change.path)
    if module_root != import_root:
        return None, f"{change.path} and the app's {app.relpath} import from different folders"
    return (
        text.HARNESS.format(
            import_root=import_root,
            app_module=app_module,
            app=app.name,
            module=module,
            method=method,
            path_=path,
            body=body,
            body_source=source,
            examples=facts.examples() if app.framework == "fastapi" else {},
        ),
        "",
    )


def _route(change: Change, facts: RepoFacts) -> tuple[str, str] | None:
    """The fixed route's method and full path."""
    chain = chain_evidence(change.finding)
    if chain is not None:
        steps, relpath, line = chain
        found = facts.full_path(relpath, line, steps[0])
        if found is not None:
            return found
    label = route_label(change.finding) or change.details.get("route", "")
    method, _, path = label.partition(" ")
    return (method, path) if path else None


def behaviour(change: Change, facts: RepoFacts) -> tuple[str | None, str]:
    """The behavioural test for `change`, or None and the reason it is not written."""
    code, details = change.code, change.details
    if code == "SVC010":
        route: tuple[str, str] | None = ("GET", details.get("ready", "/ready"))
    else:
        route = _route(change, facts)
    if route is None:
        return None, "the fixed code is not on a route the audit traced"
    app = facts.app_for(change.path)
    if app is None:
        return None, "no single FastAPI, Starlette, Flask or aiohttp app found for it"
    if app.framework == "aiohttp" and code != "SVC001":
        return None, "an aiohttp app: only SVC001's behaviour is exercised there"
    harness, why = _harness(change, facts, route, app)
    if harness is None:
        return None, why
    func = _func(change)
    if code == "SVC001":
        if app.framework == "flask" or not details.get("callee"):
            return None, "only an async route whose wrapped call is a plain name is exercised"
        health = first_of(app_routes(facts.root), LIVE_PATHS)
        if health is None:
            return None, "the app registers no /health route to time"
        template = text.SVC001_AIOHTTP if app.framework == "aiohttp" else text.SVC001
        body = template.format(
            callee=details["callee"], health=health, route=" ".join(route), func=func
        )
    elif code == "SVC002":
        if not details.get("loader"):
            return None, "the loader is not a plain name"
        body = text.SVC002.format(
            loader=details["loader"],
            cache=details.get("cache", ""),
            result=details.get("result", ""),
            func=func,
        )
    elif code == "SVC005":
        if not details.get("callee"):
            return None, "the log write is not a named call"
        body = text.SVC005.format(callee=details["callee"], func=func)
    elif code == "SVC011":
        if app.framework == "flask":
            return None, "a Flask app loads the model at import, before a test can count it"
        body = text.SVC011.format(init=details["initializer"], func=func)
    else:
        empty = text.EMPTY[details["holder"]].format(
            name=details["name"], container=details.get("container", "")
        )
        body = text.SVC010.format(
            ready=route[1], empty=empty, warmed=details.get("warmed", "_WARMED_UP"), func=func
        )
    return harness + body, ""


def tests_for(
    change: Change,
    root: Path,
    texts: dict[str, tuple[str, str]],
    facts: RepoFacts | None = None,
    unfixed: frozenset[str] = frozenset(),
) -> tuple[dict[str, str], list[str]]:
    """`relpath -> text` of the regression test file for one change, and notes."""
    guard = static_guard(change, unfixed)
    notes: list[str] = []
    if change.code in BEHAVIOURAL and change.details:
        # SVC006's test reads the fixed texts (to find the app); the others read the repo as
        # it is on disk, and the fix's details
        if change.code == "SVC006":
            extra, why = validation(change, root, texts)
        else:
            extra, why = behaviour(change, facts or RepoFacts(root))
        if extra is None:
            notes.append(f"{test_path(change)}: static guard only ({why})")
        else:
            guard += extra
    return {test_path(change): guard}, notes
