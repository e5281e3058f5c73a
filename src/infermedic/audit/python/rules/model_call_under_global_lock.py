"""SVC012: the model is called while holding a lock that every request shares."""

from __future__ import annotations

from collections.abc import Iterator

from infermedic.audit.python.index import PythonIndex
from infermedic.audit.python.locks import LockedCall, locked_model_calls
from infermedic.audit.python.rule import PythonRule
from infermedic.model import Evidence, EvidenceKind, Finding, Severity
from infermedic.settings import Settings


class ModelCallUnderGlobalLock(PythonRule):
    """
    ## What it does
    Checks for a model call (`.predict`, `.predict_proba`, `.transform` of a known model, a
    torch forward written `model(x)`, an ONNX `session.run`, a `transformers` pipeline call)
    that a serving route makes while holding a lock shared by every request: `with LOCK:`,
    `async with LOCK:`, or `LOCK.acquire()` up to its `release()`, in the handler or in any
    repo function it calls, where `LOCK` is a `threading.Lock`/`RLock`, an `asyncio.Lock`,
    a `multiprocessing.Lock` or a one-slot `Semaphore`/`BoundedSemaphore` made at module
    level, as a class attribute, in `app.state`, or as an attribute of an object made once
    (at module level, by a cached factory, in a lifespan). A repo decorator
    (`@synchronized`) counts when its wrapper calls the function inside such a block.

    ## Why is this bad?
    The server runs requests concurrently (a thread pool for sync routes, the event loop
    for async ones, several threads per worker), but the lock lets one prediction run at a
    time: the others queue behind it. Latency grows with every concurrent user, throughput
    stays at one prediction's worth however many cores the pod has, and a load test at
    concurrency 1 looks perfect. Most estimators (scikit-learn, XGBoost, LightGBM, ONNX
    Runtime sessions, torch modules in `eval()` under `no_grad`) are safe to call from
    several threads at once; the lock is often there "to be safe".

    ## Example
    ```python
    import threading

    import joblib
    from fastapi import FastAPI

    app = FastAPI()
    model = joblib.load("model.joblib")
    _MODEL_LOCK = threading.Lock()


    @app.post("/predict")
    def predict(features: list[float]):
        with _MODEL_LOCK:
            return {"label": int(model.predict([features])[0])}
    ```

    Use instead:
    ```python
    import threading

    import joblib
    from fastapi import FastAPI

    app = FastAPI()
    model = joblib.load("model.joblib")
    _served = {"count": 0}
    _stats_lock = threading.Lock()


    @app.post("/predict")
    def predict(features: list[float]):
        label = int(model.predict([features])[0])  # concurrent requests predict in parallel
        with _stats_lock:  # a lock around shared bookkeeping only
            _served["count"] += 1
        return {"label": label}
    ```

    ## Known problems
    Some models really are unsafe to share between threads (a stateful tokenizer, a torch
    model that writes shared buffers, a client library that is not thread-safe): then the
    fix is not to drop the lock but to give each worker thread or process its own copy
    (`threading.local()`, a pool of copies, more processes with one thread each), so
    requests no longer wait on one object. A lock made inside the request, a lock held
    only around a lazy load (`if model is None: with lock: ...`) and released before the
    prediction, a lock around other work (a counter, a cache update) and a semaphore with
    more than one slot (a deliberate bound) are not reported, nor is a semaphore whose
    count the code does not show. An instance's lock counts only where the code shows the
    one instance being made (at module level, by a cached factory, under a lazy guard, at
    start-up); an object made per request (`Depends(Scorer)`) or by the framework (a
    Tornado handler) is not judged shared. KServe, BentoML and Ray Serve routes are skipped:
    the framework batches and sets each replica's concurrency itself. Locks handed around as
    parameters, made by a `Manager()`, or reached through dynamic dispatch are not seen, nor
    is a model call handed to an executor whose result is waited for under the lock;
    training, model-reloading, health and readiness routes are not looked at.
    """

    code = "SVC012"
    name = "model-call-under-global-lock"
    severity = Severity.MEDIUM
    summary = "The model is called while holding a lock shared by all requests."
    fix = (
        "Call the model outside the lock (most estimators are safe to call concurrently); if "
        "the model really is not thread-safe, give each worker thread or process its own copy "
        "instead of one lock around one model."
    )
    risk = (
        "Requests are served one at a time: latency grows with concurrency, throughput stays flat."
    )
    checklist = ("D-03",)
    node_types = ()

    def check_project(self, index: PythonIndex, settings: Settings) -> Iterator[Finding]:
        seen: set[tuple[int, int]] = set()
        for found in locked_model_calls(index, settings):
            key = (id(found.held.taken), id(found.site))
            if key not in seen:
                seen.add(key)
                yield self._finding(found)

    def _finding(self, found: LockedCall) -> Finding:
        holder = found.holder
        ctx = holder.module.ctx
        held = found.held
        lock = held.lock
        route = found.reach.route
        taken = getattr(held.taken, "lineno", 0)
        through = f" (through `{' → '.join(found.via)}`)" if found.via else ""
        if held.how == "decorator":
            where = f"taken by `@{held.decorator}`, line {taken}"
        else:
            where = f"line {taken}"
        message = (
            f"`{holder.name}` calls `{found.model_call}`{through} while holding "
            f"{lock.describe(held.text)} ({where}): every request to `{route.label}` "
            "waits for the one before it"
        )
        made = lock.module.ctx
        made_line = getattr(lock.node, "lineno", 0)
        chain = [*found.reach.chain, *found.via, found.model_call]
        return self.finding(
            ctx.location(found.site),
            message,
            evidence=[
                ctx.source_evidence(found.site),
                Evidence(
                    kind=EvidenceKind.SOURCE,
                    action=f"lock taken at {ctx.relpath}:{taken}",
                    observed=ctx.line_text(taken),
                    values={"lock": held.text, "how": held.how, "line": taken},
                ),
                Evidence(
                    kind=EvidenceKind.SOURCE,
                    action=f"lock made at {made.relpath}:{made_line}"
                    + (f" (its object is made {lock.shared_by})" if lock.shared_by else ""),
                    observed=made.line_text(made_line),
                    values={
                        "kind": lock.kind,
                        "scope": lock.scope,
                        "owner": lock.owner,
                        "name": lock.name,
                        "file": made.relpath,
                        "line": made_line,
                        "shared_by": lock.shared_by,
                    },
                ),
                Evidence(
                    kind=EvidenceKind.SOURCE,
                    action=f"call chain from {route.label} "
                    f"({route.function.module.ctx.relpath}:{route.line})",
                    observed=" → ".join(chain),
                    values={"chain": chain, "route": route.label},
                ),
            ],
            fingerprint_key=f"{holder.qualname}|{held.text}|{found.model_call}",
        )
