"""SVC001: a synchronous model call on the event loop of an `async def` route."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from infermedic.audit.python import known_calls as kc
from infermedic.audit.python.context import unparse
from infermedic.audit.python.rule import PythonRule, Scope, first
from infermedic.audit.python.walker import Flag, FunctionInfo
from infermedic.model import Finding, Severity


class BlockingModelCallInAsyncRoute(PythonRule):
    """
    ## What it does
    Checks for model computations (`.predict`, `.predict_proba`, `.decision_function`, a
    torch forward written `model(x)`, an ONNX `session.run`, a `transformers` pipeline call)
    that run on the event loop of an `async def` route of FastAPI, Starlette, Quart, KServe
    or BentoML, of an `async def` RPC of a `grpc.aio` servicer, or of any Tornado handler
    method (Tornado runs plain `def` handlers on its IOLoop too), either in the handler
    itself or in a repo function it calls without delegating to a thread
    (`run_in_threadpool`, `asyncio.to_thread`, `loop.run_in_executor`,
    `anyio.to_thread.run_sync`, an executor's `submit`).

    ## Why is this bad?
    An async server runs every request of a worker on one event loop. A 50 ms `predict`
    inside `async def` stops that loop for 50 ms: health checks, other predictions and
    even reading request bodies wait behind it, so p99 latency grows with concurrency while
    CPU stays at one core. It is the most common cause of latency spikes in model services.
    A plain `def` route does not have the problem: FastAPI runs it in a thread pool.

    ## Example
    ```python
    import joblib
    from fastapi import FastAPI

    app = FastAPI()
    model = joblib.load("model.joblib")

    @app.post("/predict")
    async def predict(features: list[float]):
        return {"score": float(model.predict_proba([features])[0, 1])}
    ```

    Use instead:
    ```python
    import joblib
    from fastapi import FastAPI
    from starlette.concurrency import run_in_threadpool

    app = FastAPI()
    model = joblib.load("model.joblib")

    @app.post("/predict")
    async def predict(features: list[float]):
        scores = await run_in_threadpool(model.predict_proba, [features])
        return {"score": float(scores[0, 1])}
    ```

    ## Known problems
    Models are recognised by how they were loaded (`joblib.load`, `torch.load`,
    `mlflow.*.load_model`, `onnxruntime.InferenceSession`, `from_pretrained`, estimator
    constructors…) or by an unmistakable method name; a model that arrives through a
    function parameter is only recognised by its method. Calls through dynamic dispatch
    (`getattr`, callbacks stored in dicts) are not followed.

    ## References
    - flake8-async ASYNC200 can be configured with `*.predict`, but it does not follow
      calls across functions or recognise `model(x)`.
    """

    code = "SVC001"
    name = "blocking-model-call-in-async-route"
    severity = Severity.HIGH
    summary = "A synchronous model call blocks the event loop of an async route."
    fix = (
        "Run the model call in a thread: `await run_in_threadpool(model.predict, X)`, "
        "or declare the route with plain `def`."
    )
    risk = "Every concurrent request waits for each prediction: p99 latency and timeouts grow."
    checklist = ("D-03",)
    node_types = (ast.Call,)

    def check(self, node: ast.AST, scope: Scope) -> Iterator[Finding]:
        assert isinstance(node, ast.Call)
        reaches = scope.on_loop()
        if not reaches:
            return
        what = scope.model_call(node)
        if what is None:
            return
        reach = first(reaches)
        route = reach.route.label
        runs = "runs preprocessing" if _is_transform(node) else "runs the model"
        if len(reach.chain) == 1:
            args = ", ".join(unparse(a) for a in node.args) or "..."
            message = f"`{what}` {runs} on the event loop of {reach.route.loop_kind} `{route}`"
            fix = (
                f"`await run_in_threadpool({unparse(node.func)}, {args})`, "
                "or declare the route with plain `def`"
            )
        else:
            via = " → ".join((*reach.chain, what))
            message = (
                f"`{what}` {runs} on the event loop: {reach.route.loop_kind} `{route}` "
                f"reaches it through `{via}` without a thread"
            )
            fix = (
                f"in `{reach.chain[0]}`, call `{reach.chain[1]}` through "
                f"`await run_in_threadpool({reach.chain[1]}, ...)`"
            )
        if not reach.route.function.is_async:  # a Tornado handler: plain `def` runs on the loop
            moved = reach.chain[1] if len(reach.chain) > 1 else what
            fix = (
                f"make `{reach.chain[0]}` `async def` and run `{moved}` with "
                "`await IOLoop.current().run_in_executor(executor, ...)`"
            )
        delegated = _delegated_model_calls(reach.route.function)
        if delegated:
            # The route already hands its model call to a thread: say so, so that nobody
            # moves that call again, and point at this one, which is what holds the loop.
            names = ", ".join(f"`{d}`" for d in delegated)
            message += f"; the route already runs {names} in a thread, so this call is what blocks"
            fix += f" ({names} is already off the loop; leave it there)"
        yield self.finding(
            scope.ctx.location(node),
            message,
            evidence=scope.evidence(node, reach, what),
            fix=fix,
            fingerprint_key=f"{what}|{route}",
        )


def _is_transform(node: ast.Call) -> bool:
    return isinstance(node.func, ast.Attribute) and node.func.attr == "transform"


def _delegated_model_calls(function: FunctionInfo) -> list[str]:
    """Model methods the route handler itself hands to a thread pool (`run_in_threadpool(
    model.predict_proba, X)`), as written."""
    found = []
    for site in function.calls:
        target = site.target
        if (
            site.flags & Flag.OFF_LOOP
            and isinstance(target, ast.Attribute)
            and target.attr in kc.MODEL_METHODS
        ):
            found.append(unparse(target))
    return sorted(set(found))
