"""The text of the regression tests `fix --tests` writes: a static guard, and the behavioural
tests of SVC001 (Starlette/FastAPI, aiohttp), SVC002, SVC005, SVC010 and SVC011
(`fix.regression` fills them in).

Every behavioural verdict is an ordering or a count, never a time threshold, so a busy
machine cannot flip it: a held call waits for an event the test sets only once the thing
under test has happened; a time-out only ends the wait of a test that is failing anyway.
"""

from __future__ import annotations

STATIC = '''"""Regression guard written by `infermedic fix`: {code} stays fixed in {path}.

Fixed: {summary}.
Finding: {message}
"""

from __future__ import annotations

from pathlib import Path

from infermedic.audit import audit
from infermedic.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
# {code} findings in this file that the fix left unchanged (it said why when it ran)
UNFIXED = frozenset({unfixed!r})


def test_{func}() -> None:
    report = audit([ROOT], Settings(select=("{code}",)))
    back = [
        f
        for f in report.findings
        if f.code == "{code}" and f.location.path == {path!r} and f.fingerprint not in UNFIXED
    ]
    assert not back, "\\n".join(f"{{f.location.describe()}}: {{f.message}}" for f in back)
'''

# What every behavioural test needs: the app imported from the repo, an in-process client
# (its start-up and shut-down run too), a request body, a call found by its source text.
HARNESS = '''

# --- behaviour: the app runs in-process (start-up included) ---------------------------

import asyncio  # noqa: E402
import contextlib  # noqa: E402
import importlib  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402
import pytest  # noqa: E402

IMPORT_ROOT = ROOT / {import_root!r}  # the folder the app's package is imported from
APP_MODULE, APP = {app_module!r}, {app!r}
MODULE = {module!r}  # the module the fix edited
METHOD, PATH = {method!r}, {path_!r}
BODY: Any = {body!r}  # {body_source}
# bodies the repo's tests post to other routes: one whose schema is the route's serves too
EXAMPLES: dict[str, Any] = {examples!r}


def _app() -> tuple[Any, Any]:
    """The edited module and the app."""
    if str(IMPORT_ROOT) not in sys.path:
        sys.path.insert(0, str(IMPORT_ROOT))
    app = getattr(importlib.import_module(APP_MODULE), APP)
    return importlib.import_module(MODULE), app


def _found(module: Any, source: str) -> tuple[Any, str]:
    """The object and attribute a call's source text names (`scoring.score`,
    `state["sink"].write`), looked up in `module` as the edited code looks them up."""
    owner_text, _, name = source.rpartition(".")
    if not owner_text:
        return module, name
    # the expression is the edited code's own text, evaluated in its module's namespace
    return eval(owner_text, vars(module)), name  # noqa: S307


def _example(schema: dict[str, Any], spec: dict[str, Any]) -> Any:
    """A value that satisfies `schema` (the route's OpenAPI request body)."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return _example(spec["components"]["schemas"][name], spec)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"]
            return _example(options[0], spec)
    if schema.get("examples"):
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


def _schema(spec: dict[str, Any], path: str, method: str) -> Any:
    operation = spec["paths"].get(path, {{}}).get(method.lower(), {{}})
    content = operation.get("requestBody", {{}}).get("content", {{}})
    return content.get("application/json", {{}}).get("schema")


def _body(app: Any) -> Any:
    """BODY, else a body the repo's tests post to a route with the same request schema,
    else one built from the route's OpenAPI request schema (FastAPI)."""
    if BODY is not None or not hasattr(app, "openapi"):
        return BODY
    spec = app.openapi()
    schema = _schema(spec, PATH, METHOD)
    if schema is None:
        return None
    for path, example in EXAMPLES.items():
        if any(_schema(spec, path, m) == schema for m in ("post", "put", "patch")):
            return example
    return _example(schema, spec)


class _Sync:
    """Blocking calls into an `httpx.AsyncClient` whose event loop runs in another thread."""

    def __init__(self, client: httpx.AsyncClient, loop: asyncio.AbstractEventLoop) -> None:
        self.client, self.loop = client, loop

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        call = self.client.request(method, path, **kwargs)
        return asyncio.run_coroutine_threadsafe(call, self.loop).result(timeout=120)

    def get(self, path: str) -> httpx.Response:
        return self.request("GET", path)


@contextlib.contextmanager
def _client(app: Any) -> Iterator[Any]:
    """A client of the app in this process: an ASGI app (Starlette, FastAPI) served by an
    event loop in a thread, its lifespan held open by one task; else a WSGI app (Flask)."""
    if not hasattr(getattr(app, "router", None), "lifespan_context"):
        transport = httpx.WSGITransport(app=app)
        with httpx.Client(transport=transport, base_url="http://app") as client:
            yield client
        return
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="app-loop", daemon=True)
    thread.start()
    stop = asyncio.Event()

    async def serve(started: asyncio.Future[None]) -> None:
        try:
            async with app.router.lifespan_context(app):
                started.set_result(None)
                await stop.wait()
        except BaseException as exc:
            if not started.done():  # start-up failed: the test sees why
                started.set_exception(exc)
            raise

    started = asyncio.run_coroutine_threadsafe(_future(), loop).result(timeout=30)
    served = asyncio.run_coroutine_threadsafe(serve(started), loop)
    asyncio.run_coroutine_threadsafe(_wait(started), loop).result(timeout=300)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app")
    try:
        yield _Sync(client, loop)
    finally:
        asyncio.run_coroutine_threadsafe(client.aclose(), loop).result(timeout=30)
        loop.call_soon_threadsafe(stop.set)
        served.result(timeout=60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


async def _future() -> asyncio.Future[None]:
    return asyncio.get_running_loop().create_future()


async def _wait(future: asyncio.Future[None]) -> None:
    await future


def _send(client: Any, app: Any) -> Any:
    body = _body(app)
    return client.request(METHOD, PATH, **({{}} if body is None else {{"json": body}}))
'''

_SVC001_HEAD = '''

CALL = {callee!r}  # the call the fix moved off the event loop
HEALTH = {health!r}
HOLD_S = 60.0  # how long the held call waits for {health} (it is released at once when fixed)
ON_LOOP_S = 1.0  # on the loop thread {health} cannot answer at all: do not wait long


def test_{func}_health_answers_during_predict(monkeypatch: pytest.MonkeyPatch) -> None:
    """{health} answers while {route} is inside {callee}: the model call is off the loop."""
'''
_SVC001_HELD = """    module, app = _app()
    owner, name = _found(module, CALL)
    real = getattr(owner, name)
    gate = threading.Event()
    seen: dict[str, Any] = {{}}

    def held(*args: Any, **kwargs: Any) -> Any:
        seen["thread"] = threading.current_thread()
        on_loop = seen["thread"] is seen["loop"]
        seen["released"] = gate.wait(timeout=ON_LOOP_S if on_loop else HOLD_S)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, held)

    async def scenario() -> tuple[int, str, int]:
        seen["loop"] = threading.current_thread()
"""
_SVC001_CHECKS = """
    status, text, health = asyncio.run(scenario())
    assert "thread" in seen, f"{{METHOD}} {{PATH}} never reached {{CALL}}: {{text}}"
    assert seen["thread"] is not seen["loop"], f"{{CALL}} ran on the event loop thread"
    assert seen["released"], f"{{HEALTH}} could not answer while {{CALL}} ran"
    assert health == 200 and status == 200, text
"""
# an ASGI app (Starlette, FastAPI): its lifespan, then httpx in-process
SVC001 = (
    _SVC001_HEAD
    + _SVC001_HELD
    + """        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
                body = _body(app)
                sent = {{}} if body is None else {{"json": body}}
                predict = asyncio.create_task(client.request(METHOD, PATH, **sent))
                while "thread" not in seen and not predict.done():
                    await asyncio.sleep(0.01)
                health = await client.get(HEALTH)
                gate.set()
                answer = await predict
                return answer.status_code, answer.text, health.status_code
"""
    + _SVC001_CHECKS
)
# an aiohttp app, served by aiohttp's own test server in this process
SVC001_AIOHTTP = (
    _SVC001_HEAD
    + """    from aiohttp.test_utils import TestClient, TestServer

"""
    + _SVC001_HELD
    + """        async with TestClient(TestServer(app)) as client:
            sent = {{}} if BODY is None else {{"json": BODY}}
            predict = asyncio.create_task(client.request(METHOD, PATH, **sent))
            while "thread" not in seen and not predict.done():
                await asyncio.sleep(0.01)
            health = await client.get(HEALTH)
            gate.set()
            answer = await predict
            return answer.status, await answer.text(), health.status
"""
    + _SVC001_CHECKS
)

SVC002 = '''

LOADER = {loader!r}  # the call that loads the model
CACHE = {cache!r}  # the fix's load-once function, when it made one
RESULT = {result!r}  # the list that function keeps its result in
FIRST = 4  # first requests sent at once
HOLD_S = 60.0  # the first load waits for the other requests (all arrive at once when fixed)


def _forget(monkeypatch: pytest.MonkeyPatch, module: Any) -> None:
    """Nothing loaded yet: another test in this process may have loaded it already."""
    cached = getattr(module, CACHE, None) if CACHE else None
    if hasattr(cached, "cache_clear"):
        cached.cache_clear()
    if RESULT and isinstance(getattr(module, RESULT, None), list):
        monkeypatch.setattr(module, RESULT, [])


def test_{func}_second_prediction_loads_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two predictions: the second finds the model loaded (by start-up or the first)."""
    module, app = _app()
    _forget(monkeypatch, module)
    owner, name = _found(module, LOADER)
    real = getattr(owner, name)
    loads: list[tuple[Any, ...]] = []

    def counted(*args: Any, **kwargs: Any) -> Any:
        loads.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    with _client(app) as client:
        first = _send(client, app)
        assert first.status_code == 200, first.text
        after_first = len(loads)
        second = _send(client, app)
        assert second.status_code == 200, second.text
    assert after_first >= 1, f"{{LOADER}} never ran: the test does not see the model load"
    again = len(loads) - after_first
    assert again == 0, f"the second prediction loaded the model again ({{LOADER}} x{{again}})"


def test_{func}_concurrent_first_requests_load_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """FIRST requests at once, none finding the model loaded: it is loaded once. The first
    load is held until every request has reached the load (or the fix's load-once function),
    so requests that each load it, or a cache that is not a lock, show as several loads."""
    module, app = _app()
    _forget(monkeypatch, module)
    owner, name = _found(module, LOADER)
    real = getattr(owner, name)
    lock, all_in, sending = threading.Lock(), threading.Event(), threading.Event()
    arrived: list[str] = []
    loads: list[str] = []
    once = getattr(module, CACHE, None) if CACHE else None

    def arrive() -> None:
        with lock:
            arrived.append(threading.current_thread().name)
            if len(arrived) >= FIRST:
                all_in.set()

    def counted(*args: Any, **kwargs: Any) -> Any:
        with lock:
            loads.append(threading.current_thread().name)
        if once is None:
            arrive()  # no load-once function: the requests arrive at the load itself
        # a load at start-up, or on the event loop (no other request can run meanwhile), is
        # not held; a request's load in a worker thread waits for the other requests
        if sending.is_set() and threading.current_thread().name != "app-loop":
            all_in.wait(timeout=HOLD_S)
        return real(*args, **kwargs)

    def through_once(*args: Any, **kwargs: Any) -> Any:
        arrive()
        assert once is not None
        return once(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    if once is not None:
        monkeypatch.setattr(module, CACHE, through_once)
    answers: list[Any] = [None] * FIRST

    def send(index: int) -> None:
        try:
            answers[index] = _send(client, app)
        except BaseException as exc:  # the assertion below shows it
            answers[index] = exc

    with _client(app) as client:
        sending.set()
        threads = [threading.Thread(target=send, args=(i,)) for i in range(FIRST)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
    for answer in answers:
        assert getattr(answer, "status_code", None) == 200, repr(answer)
    assert loads, f"{{LOADER}} never ran: the test does not see the model load"
    assert len(loads) == 1, (
        f"{{FIRST}} first requests at once loaded the model {{len(loads)}} times ({{LOADER}})"
    )
'''

SVC005 = '''

CALL = {callee!r}  # the prediction-log write the fix moved off the request path
HOLD_S = 5.0  # how long the held write waits for the answer (released at once when fixed)


def test_{func}_answer_does_not_wait_for_the_log(monkeypatch: pytest.MonkeyPatch) -> None:
    """The answer comes back while the log write is still held."""
    module, app = _app()
    gate = threading.Event()
    seen: list[bool] = []
    with _client(app) as client:
        owner, name = _found(module, CALL)  # after start-up: the sink may be made there
        real = getattr(owner, name)

        def held(*args: Any, **kwargs: Any) -> Any:
            seen.append(gate.wait(timeout=HOLD_S))  # False: the answer waited for the write
            return real(*args, **kwargs)

        monkeypatch.setattr(owner, name, held)
        answer = _send(client, app)
        gate.set()
        deadline = time.monotonic() + 60.0  # the background write may not have started yet
        while not seen and time.monotonic() < deadline:
            time.sleep(0.01)
    assert answer.status_code == 200, answer.text
    assert seen, f"{{CALL}} was never called"
    assert seen[0], f"the answer waited for {{CALL}}: the log write is on the request path"
'''

SVC010 = '''

READY = {ready!r}


def _empty(monkeypatch: pytest.MonkeyPatch, module: Any, app: Any) -> None:
    """Take the model away, as before it is loaded."""
    {empty}


def test_{func}_ready_waits_for_load_and_warm_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """{ready} answers 200 only with the model loaded and warmed up, 503 otherwise."""
    module, app = _app()
    with _client(app) as client:
        up = client.get(READY)
        assert up.status_code == 200, f"{{READY}} answers {{up.status_code}} once started"
        warmed = getattr(module, {warmed!r}, None)
        assert warmed is not None, "no warm-up flag: {ready} does not wait for the warm-up"
        warmed.clear()
        try:
            cold = client.get(READY)
        finally:
            warmed.set()
        assert cold.status_code == 503, f"{{READY}} answers {{cold.status_code}} before warm-up"
        _empty(monkeypatch, module, app)
        gone = client.get(READY)
        assert gone.status_code == 503, f"{{READY}} answers {{gone.status_code}} with no model"
'''

SVC011 = '''

INIT = {init!r}  # the function whose first call loads the model


def test_{func}_model_loads_at_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start-up calls {init}, before the first request arrives: no request pays the load."""
    module, app = _app()
    owner, name = _found(module, INIT)
    real = getattr(owner, name)
    calls: list[str] = []

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append("called")
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    with _client(app) as client:
        at_start_up = len(calls)
        answer = _send(client, app)
    assert at_start_up >= 1, f"start-up never called {{INIT}}: the first request loads the model"
    assert answer.status_code == 200, answer.text
'''

EMPTY = {
    "global": 'monkeypatch.setattr(module, "{name}", None)',
    "key": 'monkeypatch.delitem(getattr(module, "{container}"), "{name}")',
    "state": 'monkeypatch.delattr(app.state, "{name}")',
    # a module-level holder of another module, which the gate reads through that module
    "imported": "monkeypatch.setattr("
    '*_found(importlib.import_module("{container}"), "{name}"), None)',
}
