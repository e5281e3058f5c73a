"""SVC009: an ASGI app or Flask config created with debug mode on."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from infermedic.audit.python.context import unparse
from infermedic.audit.python.index import PythonIndex
from infermedic.audit.python.rule import PythonRule, Scope
from infermedic.audit.python.walker import BindingKind, Flag
from infermedic.model import Evidence, EvidenceKind, Finding, Location, Severity
from infermedic.settings import Settings

_DEBUG_APPS = frozenset({"fastapi.FastAPI", "starlette.applications.Starlette", "quart.Quart"})
# Apps whose own `.run(debug=True)` starts a development server with a debugger.
_RUN_FRAMEWORKS = frozenset({"flask", "quart", "sanic"})


class DebugModeEnabled(PythonRule):
    """
    ## What it does
    Checks for debug mode switched on in code that ships: `FastAPI(debug=True)`,
    `Starlette(debug=True)`, `Quart(debug=True)`, `app.debug = True` and
    `app.config["DEBUG"] = True` on a Flask or Quart app, and `app.run(debug=True)` on a
    Flask, Quart or Sanic app. Under `if __name__ == "__main__":` while a Procfile or
    Dockerfile (or heroku.yml, a compose file, App Engine's app.yaml) starts a production
    server (gunicorn, uvicorn, …) and none runs the file as a script (`python app.py`),
    `app.run(debug=True)` is reported at low severity: only running the file directly
    starts the debugger. For a Flask app it also checks the deployed configuration:
    `FLASK_DEBUG=1` (or `FLASK_ENV=development`) in a Dockerfile's `ENV` (the final stage
    and the stages it is built from), a compose service's `environment` or a Procfile
    line, and `flask --debug run` as the command; at low severity when a production server,
    not `flask run`, serves the app there.

    ## Why is this bad?
    Debug mode returns full tracebacks (file paths, library versions, sometimes request
    data and secrets in locals) to any client that triggers an error, and Flask's debugger
    can execute code. In a model service a malformed payload is enough to trigger one.

    ## Example
    ```python
    from fastapi import FastAPI

    app = FastAPI(debug=True)
    ```

    Use instead:
    ```python
    import os

    from fastapi import FastAPI

    app = FastAPI(debug=os.environ.get("APP_DEBUG") == "1")
    ```

    ## Known problems
    Only the literal `True` is reported; a value read from settings is assumed to be off in
    production.

    ## References
    - ruff `S201` / bandit `B201` report Flask's `app.run(debug=True)` at one severity;
      this rule also covers the ASGI frameworks and Flask's config switches, and weighs
      `app.run` by how the app is really served.
    """

    code = "SVC009"
    name = "debug-mode-enabled"
    severity = Severity.MEDIUM
    summary = "Debug mode is on: errors return tracebacks to clients."
    fix = "Drop `debug=True`, or read it from an environment variable that is off in production."
    risk = "Tracebacks leak paths, versions and data to any client that sends bad input."
    checklist = ()
    node_types = (ast.Call, ast.Assign)

    def check(self, node: ast.AST, scope: Scope) -> Iterator[Finding]:
        if isinstance(node, ast.Call) and _is_run_call(node, scope):
            yield from self._debug_run(node, scope)
            return
        if isinstance(node, ast.Call):
            qualified = scope.qualified(node.func)
            if qualified not in _DEBUG_APPS:
                return
            debug = next((k.value for k in node.keywords if k.arg == "debug"), None)
            if isinstance(debug, ast.Constant) and debug.value is True:
                yield self.finding(
                    scope.ctx.location(node),
                    f"`{qualified}(debug=True)` sends tracebacks to clients",
                    evidence=scope.evidence(node),
                )
            return
        if not isinstance(node, ast.Assign):
            return
        if not (isinstance(node.value, ast.Constant) and node.value.value is True):
            return
        for target in node.targets:
            owner: ast.expr | None = None
            if isinstance(target, ast.Attribute) and target.attr == "debug":
                owner = target.value
            elif (
                isinstance(target, ast.Subscript)
                and isinstance(target.slice, ast.Constant)
                and target.slice.value == "DEBUG"
                and isinstance(target.value, ast.Attribute)
                and target.value.attr == "config"
            ):
                owner = target.value.value
            if owner is None:
                continue
            app = scope.binding(owner)
            if app is not None and app.kind is BindingKind.APP:
                yield self.finding(
                    scope.ctx.location(node),
                    f"`{unparse(target)} = True` turns debug mode on",
                    evidence=scope.evidence(node),
                )

    def check_project(self, index: PythonIndex, settings: Settings) -> Iterator[Finding]:
        """Debug mode switched on where the app is deployed (an image's `ENV`, a compose
        service, a Procfile line): with `flask run` it brings the debugger; under a
        production server it only turns `app.debug` on."""
        if not index.debug_switches or not _flask_app(index):
            return
        for switch in index.debug_switches:
            if switch.dev_server:
                message = (
                    f"`{switch.setting}` turns Flask's debug mode on, and `flask run` there "
                    "serves the app with the development server and its interactive debugger"
                )
                severity = self.severity
            else:
                message = (
                    f"`{switch.setting}` turns Flask's debug mode on (`app.debug`); a "
                    "production server there keeps the debugger off, but anyone starting "
                    "the app with `flask run` from this setup exposes it"
                )
                severity = Severity.LOW
            yield self.finding(
                Location(path=switch.relpath, line=switch.line),
                message,
                evidence=[
                    Evidence(
                        kind=EvidenceKind.SOURCE,
                        action=f"{switch.relpath}:{switch.line}",
                        observed=switch.source_line,
                    )
                ],
                severity=severity,
                fix="Remove the switch from the deployed configuration (keep it in a local "
                ".env or a dev compose override)",
                fingerprint_key=f"{switch.setting}|{switch.relpath}",
            )

    def _debug_run(self, node: ast.Call, scope: Scope) -> Iterator[Finding]:
        """`app.run(debug=True)`: the development server with its debugger. Under
        `__main__` while a Procfile or Dockerfile starts a production server, only
        `python app.py` runs it: still a finding, at lower severity."""
        debug = next((k.value for k in node.keywords if k.arg == "debug"), None)
        if not (isinstance(debug, ast.Constant) and debug.value is True):
            return
        text = f"`{unparse(node.func)}(debug=True)`"
        script = f"script:{scope.ctx.relpath.rsplit('/', 1)[-1]}"
        run_as_script = script in scope.index.served_by  # `CMD python app.py`
        served = sorted(
            (k, v) for k, v in scope.index.served_by.items() if not k.startswith("script:")
        )
        if scope.flags & Flag.MAIN and served and not run_as_script:
            path, command = served[0]
            yield self.finding(
                scope.ctx.location(node),
                f"{text} starts the debugger when the file is run as a script; {path} serves "
                f"the app with `{command}`, but anyone running it directly exposes the debugger",
                evidence=[
                    *scope.evidence(node),
                    Evidence(kind=EvidenceKind.SOURCE, action=path, observed=command),
                ],
                severity=Severity.LOW,
            )
            return
        yield self.finding(
            scope.ctx.location(node),
            f"{text} serves the app with the development server and its interactive debugger",
            evidence=scope.evidence(node),
        )


def _flask_app(index: PythonIndex) -> bool:
    """Whether the repository makes a Flask app (FLASK_DEBUG means nothing elsewhere)."""
    return any(
        b.kind is BindingKind.APP and b.origin == "flask"
        for module in index.modules.values()
        for b in module.bindings.values()
    ) or any(r.framework == "flask" for r in index.routes)


def _is_run_call(node: ast.Call, scope: Scope) -> bool:
    func = node.func
    if not (isinstance(func, ast.Attribute) and func.attr == "run"):
        return False
    app = scope.binding(func.value)
    return app is not None and app.kind is BindingKind.APP and app.origin in _RUN_FRAMEWORKS
