"""SVC004: an outbound HTTP call without a timeout while serving a request."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from infermedic.audit.dockerfile.healthchecks import InlineCheck
from infermedic.audit.python import known_calls as kc
from infermedic.audit.python.context import FileContext, call_text, has_kwargs_splat, keyword
from infermedic.audit.python.index import PythonIndex
from infermedic.audit.python.rule import PythonRule, Scope, first
from infermedic.audit.python.walker import BindingKind
from infermedic.model import Evidence, EvidenceKind, Finding, Location, Severity
from infermedic.settings import Settings


class OutboundCallWithoutTimeoutInRoute(PythonRule):
    """
    ## What it does
    Checks for outbound HTTP calls made while a route serves a request (in the handler or
    a repo function it calls) that have no timeout: `requests.get/post/...`,
    `urllib.request.urlopen` and calls on a `requests.Session` without `timeout=`, and
    `httpx` calls with `timeout=None`. The same calls elsewhere in the service's code (an
    alert or Slack sender beside the handlers, a start-up hook, work a route hands to a
    thread or task; not standalone scripts or tests) are reported at low severity, and so
    are the same calls in a container health check that runs `python -c` (the HEALTHCHECK
    a Dockerfile's image keeps, a compose service's `healthcheck.test`) or in the repo
    script such a check runs (`HEALTHCHECK CMD python healthcheck.py`).

    ## Why is this bad?
    `requests` waits forever by default. When a feature store or downstream model hangs,
    each request holds a worker thread (or the event loop) until the client gives up: the
    pool fills, health checks time out and the pod is restarted for a problem elsewhere.
    Inside a route the timeout is the service's latency budget, not a nicety.

    ## Example
    ```python
    import requests
    from fastapi import FastAPI

    app = FastAPI()

    @app.post("/predict")
    def predict(user_id: str):
        features = requests.get(f"http://features/users/{user_id}").json()
        return {"n_features": len(features)}
    ```

    Use instead:
    ```python
    import requests
    from fastapi import FastAPI

    app = FastAPI()

    @app.post("/predict")
    def predict(user_id: str):
        response = requests.get(f"http://features/users/{user_id}", timeout=(0.5, 2.0))
        return {"n_features": len(response.json())}
    ```

    ## Known problems
    `httpx` has a 5 s default and is only reported with an explicit `timeout=None`; a
    timeout set on the session object (`session.request = partial(...)`, an adapter) is not
    seen. `aiohttp` sessions are not checked.

    ## References
    - ruff `S113` / bandit `B113` flag a missing timeout anywhere; this rule reports the
      calls on the request path, where the timeout bounds the service's latency.
    """

    code = "SVC004"
    name = "outbound-call-without-timeout-in-route"
    severity = Severity.MEDIUM
    summary = "An outbound HTTP call on the request path has no timeout."
    fix = "Pass `timeout=(connect_s, read_s)` sized to the route's latency budget."
    risk = "A hung dependency holds workers until the service stops answering."
    checklist = ()
    node_types = (ast.Call,)

    def check(self, node: ast.AST, scope: Scope) -> Iterator[Finding]:
        assert isinstance(node, ast.Call)
        if has_kwargs_splat(node):
            return
        what = self._outbound(node, scope)
        if what is None:
            return
        missing = _missing_timeout(node, what)
        if missing is None:
            return
        explicit_none = missing == "explicit-none"
        reaches = scope.on_request_path()
        if not reaches:
            yield from self._off_route(node, scope, what, explicit_none)
            return
        reach = first(reaches)
        state = "`timeout=None`" if explicit_none else "no timeout"
        yield self.finding(
            scope.ctx.location(node),
            f"`{what}` has {state} while `{reach.route.label}` waits for it",
            evidence=scope.evidence(node, reach, what),
            fingerprint_key=f"{what}|{reach.route.label}",
        )

    def check_project(self, index: PythonIndex, settings: Settings) -> Iterator[Finding]:
        for check in index.health_checks:
            for what, state in _inline_calls(check):
                yield self.finding(
                    Location(path=check.relpath, line=check.line),
                    f"the {check.origin} runs `{what}` with {state}: a server that accepts "
                    "the connection and never answers leaves each check hanging until the "
                    "container runtime kills it, and the hang reads as a failed check",
                    evidence=[
                        Evidence(
                            kind=EvidenceKind.SOURCE,
                            action=f"{check.relpath}:{check.line}",
                            observed=check.source_line,
                        )
                    ],
                    severity=Severity.LOW,
                    fix=f"Pass `timeout=` to `{what}` shorter than the check's own timeout",
                    fingerprint_key=f"{what}|{check.origin}",
                )

    def _outbound(self, node: ast.Call, scope: Scope) -> str | None:
        qualified = scope.qualified(node.func)
        if qualified in kc.HTTP_CALLS_NEEDING_TIMEOUT:
            return qualified
        if (
            qualified is not None
            and qualified.startswith("httpx.")
            and qualified.rsplit(".", 1)[-1] in kc.HTTP_CLIENT_METHODS
        ):
            return qualified
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in kc.HTTP_CLIENT_METHODS:
            receiver = scope.binding(func.value)
            if (
                receiver is not None
                and receiver.kind is BindingKind.SYNC_CLIENT
                and receiver.origin in {"requests.Session", "requests.session", "httpx.Client"}
            ):
                prefix = "httpx." if receiver.origin == "httpx.Client" else ""
                return prefix + call_text(node)
        return None

    def _off_route(
        self, node: ast.Call, scope: Scope, what: str, explicit_none: bool
    ) -> Iterator[Finding]:
        """Service code outside the request path (an alert or Slack sender, a start-up
        fetch, a health-check script): a hung endpoint stalls that job for ever. Reported
        at low severity, for code that is part of the running service, outside tests."""
        state = "`timeout=None`" if explicit_none else "no timeout"
        check = next((c for c in scope.index.health_checks if c.runs(scope.ctx.relpath)), None)
        if check is not None:  # the script a container health check runs
            yield self.finding(
                scope.ctx.location(node),
                f"`{what}` has {state} in the script the {check.origin} runs "
                f"({check.relpath}:{check.line}): a hung server leaves each check hanging",
                evidence=[
                    *scope.evidence(node),
                    Evidence(
                        kind=EvidenceKind.SOURCE,
                        action=f"{check.relpath}:{check.line}",
                        observed=check.source_line,
                    ),
                ],
                severity=Severity.LOW,
                fingerprint_key=f"{what}|{scope.ctx.relpath}|health-check",
            )
            return
        function = scope.function
        if function is None or not scope.index.routes or _is_test(scope.ctx.relpath):
            return
        if not _in_a_service(scope):
            return
        yield self.finding(
            scope.ctx.location(node),
            f"`{what}` in `{function.name}` has {state}: a hung endpoint blocks it for ever",
            evidence=scope.evidence(node),
            severity=Severity.LOW,
            fingerprint_key=f"{what}|{function.qualname}",
        )


def _missing_timeout(node: ast.Call, what: str) -> str | None:
    """ "missing" or "explicit-none" when the call can wait for ever, else None."""
    timeout = keyword(node, "timeout")
    explicit_none = isinstance(timeout, ast.Constant) and timeout.value is None
    if what.startswith("httpx.") and not explicit_none:
        return None  # httpx times out after 5 s unless told not to
    if timeout is not None and not explicit_none:
        return None
    if what == "urllib.request.urlopen" and len(node.args) >= 3:
        return None  # urlopen(url, data, timeout)
    return "explicit-none" if explicit_none else "missing"


def _inline_calls(check: InlineCheck) -> Iterator[tuple[str, str]]:
    """The HTTP calls without a timeout in a health check's `python -c` code:
    (what, "no timeout" | "`timeout=None`")."""
    try:
        ctx = FileContext.parse(check.relpath, check.code.encode("utf-8"))
    except (SyntaxError, ValueError, UnicodeError):
        return  # not Python this rule can read; the check fails at run time anyway
    for node in ast.walk(ctx.tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            ctx.add_import(node)
    for node in ast.walk(ctx.tree):
        if not isinstance(node, ast.Call) or has_kwargs_splat(node):
            continue
        what = ctx.qualified_name(node.func)
        if what is None or not (
            what in kc.HTTP_CALLS_NEEDING_TIMEOUT
            or (what.startswith("httpx.") and what.rsplit(".", 1)[-1] in kc.HTTP_CLIENT_METHODS)
        ):
            continue
        missing = _missing_timeout(node, what)
        if missing is not None:
            yield what, "`timeout=None`" if missing == "explicit-none" else "no timeout"


def _is_test(relpath: str) -> bool:
    parts = relpath.split("/")
    name = parts[-1]
    return (
        any(p in {"tests", "test", "testing"} for p in parts[:-1])
        or name.startswith("test_")
        or name.endswith("_test.py")
        or name == "conftest.py"
    )


def _in_a_service(scope: Scope) -> bool:
    """Whether the call is part of the running service: work a route hands to a thread or
    task, or code in a module that makes the app or defines routes (start-up hooks, alert
    senders beside the handlers). A standalone script (`download_model.py`) is not."""
    if scope.reaches():
        return True
    module = scope.module
    if any(b.kind is BindingKind.APP for b in module.bindings.values()):
        return True
    return any(route.function.module is module for route in scope.index.routes)
