"""SVC011: the model is built by the first request that needs it, not at start-up."""

from __future__ import annotations

from collections.abc import Iterator

from infermedic.audit.python.index import PythonIndex
from infermedic.audit.python.lazy_load import LazyLoad, lazy_loads, readiness_routes
from infermedic.audit.python.routes import RouteInfo
from infermedic.audit.python.rule import PythonRule
from infermedic.model import Evidence, EvidenceKind, Finding, Severity
from infermedic.settings import Settings


class ModelLoadedOnFirstRequest(PythonRule):
    """
    ## What it does
    Checks for a model loaded or trained lazily by a prediction route: behind a
    lazy-initialisation guard (`if model is None: model = joblib.load(...)`,
    `if "model" not in state: ...`, a holder class whose `get()` loads on first use) or in a
    cached function (`@lru_cache def get_model(): ...`) that a route calls, in the handler or
    in any repo function it calls, while nothing loads it at start-up and no readiness
    route waits for it.

    Start-up is module-level code, a lifespan or `on_startup` handler,
    `@app.on_event("startup")`, Flask `before_first_request`, an app factory (a function
    that makes the app), a gunicorn server hook, and whatever these call (a warm-up
    prediction included). A readiness or health route that calls the loader or reads the
    object it fills waits for the load, and is not reported.

    ## Why is this bad?
    The first request after every deploy, restart or scale-up pays for the load (seconds for
    a large artifact, longer to train), and so does every request queued behind it: a
    latency spike or time-outs exactly when the pod joins the load balancer. Meanwhile the
    readiness probe, which does not look at the model, has already said "ready". Loading
    at start-up moves that cost to before the pod takes traffic.

    ## Example
    ```python
    import joblib
    from fastapi import FastAPI

    app = FastAPI()
    _model = None


    def get_model():
        global _model
        if _model is None:
            _model = joblib.load("model.joblib")
        return _model


    @app.post("/predict")
    def predict(features: list[float]):
        return {"label": int(get_model().predict([features])[0])}
    ```

    Use instead:
    ```python
    import contextlib

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        get_model()  # load before the app takes traffic
        yield

    app = FastAPI(lifespan=lifespan)
    ```

    ## Known problems
    A guard whose test reads request data (`if name not in models:`) loads one model per
    key, and a cache called with request arguments is a model registry: neither is
    reported. A warm-up done by an HTTP request to the service itself, or by a process
    outside the repository, is not seen. Frameworks that call a model's `load()` before
    serving (KServe, BentoML, Ray Serve) are skipped. Flask's `before_first_request` runs
    when the first request arrives, yet it is taken as start-up code (a deliberate
    load-once hook) and not reported.
    """

    code = "SVC011"
    name = "model-loaded-on-first-request"
    severity = Severity.MEDIUM
    summary = "The model is loaded by the first request, not at start-up."
    fix = (
        "Load the model at start-up (call the loader in the lifespan or at import) so the "
        "pod is ready only once it is loaded; keep `/ready` gated on it."
    )
    risk = "The first requests after every deploy or scale-up are slow or time out."
    checklist = ("D-23",)
    node_types = ()

    def check_project(self, index: PythonIndex, settings: Settings) -> Iterator[Finding]:
        ready = readiness_routes(index)
        for found in lazy_loads(index):
            yield self._finding(found, ready)

    def _finding(self, found: LazyLoad, ready: list[RouteInfo]) -> Finding:
        init = found.initializer
        ctx = init.module.ctx
        route = found.route
        how = "behind a lazy guard" if found.form == "guard" else "in a cached function"
        where = f"`{init.name}`"
        if ready:
            gate = f"; `{ready[0].label}` answers ready without waiting for it"
        else:
            gate = "; no readiness route waits for it"
        message = (
            f"`{found.loader}` builds the model on the first request to `{route.label}` "
            f"({how}, in {where}), not at start-up{gate}"
        )
        chain = list(found.chain)
        steps = chain if chain[-1] == found.loader else [*chain, found.loader]
        return self.finding(
            ctx.location(found.node),
            message,
            evidence=[
                ctx.source_evidence(found.node),
                Evidence(
                    kind=EvidenceKind.SOURCE,
                    action=f"call chain from {route.label} "
                    f"({route.function.module.ctx.relpath}:{route.line})",
                    observed=" → ".join(steps),
                    values={"chain": chain, "route": route.label},
                ),
                Evidence(
                    kind=EvidenceKind.SOURCE,
                    action="lazy initializer",
                    observed=f"{ctx.relpath}:{init.node.lineno} {init.qualname}",
                    values={
                        "initializer": init.name,
                        "qualname": init.qualname,
                        "class": init.cls.name if init.cls is not None else "",
                        "file": ctx.relpath,
                        "line": init.node.lineno,
                        "form": found.form,
                        "holder": found.holder,
                        "loader": found.loader,
                        "is_route": init is route.function,
                    },
                ),
            ],
            fingerprint_key=f"{init.qualname}|{found.loader}",
        )
