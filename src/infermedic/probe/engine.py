"""The probe run: detect, check the contract, load, sweep, blocking, robustness, then judge."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import math
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx

from infermedic.errors import ConfigError, InputError, ProbeError, TargetUnreachable
from infermedic.live import current_meter
from infermedic.model import Notification, NotificationLevel, Report
from infermedic.probe.checks.blocking import run_blocking
from infermedic.probe.checks.bodies import run_body_memory
from infermedic.probe.checks.contract import run_contract
from infermedic.probe.checks.load import run_load
from infermedic.probe.checks.memory import memory_sampler, sample_memory
from infermedic.probe.checks.robustness import run_repeats, run_robustness
from infermedic.probe.checks.sweep import run_sweep
from infermedic.probe.context import ProbeContext
from infermedic.probe.http import ProbeClient, Redactor, Target, parse_target
from infermedic.probe.loadgen import Clock, Sender, metered
from infermedic.probe.observations import ProbeObservations, observe
from infermedic.probe.plan import CheckName, ProbePlan, Thresholds
from infermedic.probe.protocols import ServiceMap, detect
from infermedic.probe.rawclient import FALLBACK_NOTE, RawSender, load_sender, supports
from infermedic.probe.report import build_report
from infermedic.probe.rules import RULES
from infermedic.probe.rules.coverage import unjudged_reason
from infermedic.probe.senders import AiohttpSender, HttpxSender
from infermedic.redact import redact_url
from infermedic.runner import run_rules, select_rules

ProgressCallback = Callable[[str, float], None]  # (what is running, fraction done 0..1)
NEEDS_LOAD = frozenset({CheckName.LOAD, CheckName.SWEEP, CheckName.BLOCKING})
NEEDS_BODY = frozenset(
    {CheckName.CONTRACT, CheckName.LOAD, CheckName.SWEEP, CheckName.BLOCKING, CheckName.ROBUSTNESS}
)


def probe(
    target: str,
    plan: ProbePlan | None = None,
    *,
    progress: ProgressCallback | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Clock | None = None,
    on_observations: Callable[[ProbeObservations], None] | None = None,
) -> Report:
    """Probe the service at `target` as `plan` says and return the report.

    `on_observations` receives the run's frozen observations (what the rules judged) before
    the report is built: to save them (`to_json`) and judge them again later.

    `transport` replaces the network (tests pass `httpx.ASGITransport`); the load then goes
    through httpx too. `clock` replaces `time.perf_counter` in the load generator.
    Ctrl-C (SIGINT) stops the run at once; what was measured is still reported.
    """
    chosen = (plan or ProbePlan()).validated()
    named = parse_target(target)
    _check_credentials(named, chosen)
    coroutine = _probe(
        named, chosen, progress, transport, clock or time.perf_counter, on_observations
    )
    if transport is None:
        try:
            import uvloop

            result: Report = uvloop.run(coroutine)
            return result
        except ImportError:  # uvloop is optional (not on Windows)
            pass
    return asyncio.run(coroutine)


def plan_thresholds(plan: ProbePlan) -> ProbePlan:
    """The plan with thresholds from `[tool.infermedic.probe]` laid under it."""
    from dataclasses import replace

    options = plan.settings.options_for_engine("probe")
    return replace(plan, thresholds=Thresholds.from_options(options)) if options else plan


@contextlib.contextmanager
def _sigint_sets(stop: asyncio.Event) -> Any:
    """Ctrl-C sets `stop` (a second one interrupts as usual); only in the main thread."""
    loop = asyncio.get_running_loop()
    installed = False
    if threading.current_thread() is threading.main_thread():

        def first_interrupt() -> None:
            stop.set()
            loop.remove_signal_handler(signal.SIGINT)

        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGINT, first_interrupt)
            installed = True
    try:
        yield
    finally:
        if installed:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(signal.SIGINT)


def _check_credentials(target: Target, plan: ProbePlan) -> None:
    """`user:password@` in the URL is HTTP Basic auth; another `Authorization` is a conflict."""
    if target.basic_auth() is None:
        return
    if plan.bearer or (plan.api_key and plan.api_key_header.lower() == "authorization"):
        raise ConfigError(
            "the URL carries user:password (HTTP Basic auth) and --bearer also sets "
            "the Authorization header; give one of them",
            hint="drop user:password@ from the URL, or drop --bearer",
        )


def auth_headers(target: Target, plan: ProbePlan) -> dict[str, str]:
    """The credentials of a run (sent to the target's origin only)."""
    headers = plan.auth_headers()
    basic = target.basic_auth()
    if basic is not None:
        headers["Authorization"] = basic
    return headers


async def _probe(
    target: Target,
    plan: ProbePlan,
    progress: ProgressCallback | None,
    transport: httpx.AsyncBaseTransport | None,
    clock: Clock,
    on_observations: Callable[[ProbeObservations], None] | None = None,
) -> Report:
    started_at = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    started = time.perf_counter()
    base_url = target.url
    redact = Redactor((*plan.secrets(), *target.secrets()))
    stop = asyncio.Event()

    def tell(what: str, done: float) -> None:
        if progress is not None:
            progress(what, done)

    client = ProbeClient(
        base_url,
        transport=transport,
        auth_headers=auth_headers(target, plan),
        timeout_s=plan.timeout_s,
        max_body=plan.max_body,
        target=target,
        stop=stop,
    )
    try:
        with _sigint_sets(stop):
            tell("detecting protocols", 0.0)
            service = await detect(
                client,
                redact,
                predict_path=plan.predict_path,
                health_path=plan.health_path,
                model_name=plan.model_name,
                input_body=plan.input_body,
                input_source=plan.input_source,
                repo=plan.repo_hints,
            )
            ctx = ProbeContext(
                base_url=base_url, plan=plan, redact=redact, service=service, transport=transport
            )
            ctx.notifications.extend(
                Notification(level=NotificationLevel.NOTE, message=note) for note in service.notes
            )
            # Interrupted during detection: report what was seen instead of judging the target.
            if not stop.is_set():
                _require_reachable(service, base_url)
                _require_body(ctx)
            await _run_checks(ctx, client, transport, clock, stop, tell)
            tell("judging", 1.0)
    finally:
        await client.aclose()
    observations = observe(ctx)
    if on_observations is not None:
        on_observations(observations)
    judged = run_rules(
        select_rules(RULES, plan.settings.select, plan.settings.ignore),
        observations,
        unjudged=unjudged_reason,
    )
    ctx.notifications.extend(judged.notifications)
    if stop.is_set():
        ctx.notifications.append(
            Notification(
                level=NotificationLevel.WARNING,
                message="interrupted: the report holds what was measured before Ctrl-C",
            )
        )
    return build_report(
        ctx,
        judged,
        started_at=started_at,
        duration_s=time.perf_counter() - started,
    )


def _require_reachable(service: ServiceMap, base_url: str) -> None:
    if all(e.status == 0 for e in service.exchanges.values()):
        first = next(iter(service.exchanges.values()))
        raise TargetUnreachable(
            f"{base_url} gave no usable answer to any request ({first.error})",
            hint="raise --max-body if answers this large are expected"
            if "cap" in (first.error or "")
            else "check the URL and that the service is running",
        )


def _require_body(ctx: ProbeContext) -> None:
    service = ctx.service
    if not ctx.plan.checks & NEEDS_BODY:
        return
    repo = ctx.plan.repo_hints
    if service.predict_path is None:
        found = ", ".join(service.names()) or "no known protocol"
        why = "; ".join(service.notes) if service.notes else "no --repo, no OpenAPI document"
        raise InputError(
            f"cannot tell which route makes predictions ({found} detected; {why})",
            hint="give it with --predict-path /predict"
            + ("" if repo is not None else ", or --repo PATH to read it from the service's code"),
        )
    if service.request_body is None:
        tests = "no request example in the repo's tests" if repo else "no --repo"
        raise InputError(
            f"no request body for POST {service.predict_path}: no --input, no OpenAPI example "
            f"or schema, no Open Inference model metadata, {tests}",
            hint="give a known-good request with --input example.json",
        )


async def _run_checks(
    ctx: ProbeContext,
    client: ProbeClient,
    transport: httpx.AsyncBaseTransport | None,
    clock: Clock,
    stop: asyncio.Event,
    tell: Callable[[str, float], None],
) -> None:
    plan = ctx.plan
    checks = plan.checks
    body = json.dumps(ctx.service.request_body, allow_nan=True).encode()
    headers = client.auth_headers()
    connections = max(64, *plan.sweep, plan.blocking_concurrency) if plan.sweep else 64
    meter = current_meter()  # a live display's, when one runs (infermedic.live)

    @contextlib.asynccontextmanager
    async def senders(method: str, path: str, payload: bytes | None) -> AsyncIterator[Sender]:
        url = client.url(path)
        if not client.target.same_origin(url):
            # Never reached: routes are paths (the plan checks); load goes only to the target.
            raise ProbeError(f"refusing to send load to {redact_url(url)}: not the target")
        sender: AiohttpSender | HttpxSender | RawSender
        if transport is not None:
            sender = HttpxSender(
                url,
                transport=transport,
                method=method,
                body=payload,
                headers=headers,
                timeout_s=plan.timeout_s,
                max_body=plan.max_body,
            )
        else:
            sender = load_sender(
                url,
                method=method,
                body=payload,
                headers=headers,
                timeout_s=plan.timeout_s,
                connections=connections,
                max_body=plan.max_body,
            )
        async with sender:
            # the blocking canary's answer (a 404 on a made-up path) is no error: it only
            # times the event loop
            yield metered(sender, meter, errors=path == ctx.service.predict_path)

    factory: Callable[[str, str, bytes | None], AbstractAsyncContextManager[Sender]] = senders
    steps = [
        c
        for c in (
            CheckName.CONTRACT,
            CheckName.LOAD,
            CheckName.SWEEP,
            CheckName.BLOCKING,
            CheckName.ROBUSTNESS,
        )
        if c in checks
    ]
    if transport is None and not supports(client.base_url) and checks & NEEDS_LOAD:
        scheme = client.target.scheme
        ctx.notifications.append(
            Notification(level=NotificationLevel.NOTE, message=FALLBACK_NOTE.format(scheme=scheme))
        )
    sampler_stop = asyncio.Event()
    sampler: asyncio.Task[None] | None = None
    for number, check in enumerate(steps):
        if stop.is_set():
            break
        if check is not CheckName.CONTRACT and not _prediction_works(ctx):
            ctx.notifications.append(
                Notification(
                    level=NotificationLevel.WARNING,
                    message=(
                        f"skipped `{check.value}`: the known-good request does not succeed"
                        + ("" if plan.input_body is not None else "; give one with --input")
                    ),
                )
            )
            continue
        tell(f"{check.value}", number / max(len(steps), 1))
        if meter is not None:
            meter.start(f"probe {check.value}", **_step_plan(check, plan, transport))
        if sampler is None and check in (CheckName.LOAD, CheckName.SWEEP, CheckName.BLOCKING):
            sampler = asyncio.ensure_future(memory_sampler(ctx, client, sampler_stop))
        try:
            match check:
                case CheckName.CONTRACT:
                    ctx.contract = await run_contract(ctx, client)
                case CheckName.LOAD:
                    ctx.load = await run_load(
                        ctx,
                        client,
                        factory,
                        body=body,
                        stop=stop,
                        clock=clock,
                        use_processes=transport is None,
                        url=client.url(ctx.service.predict_path or "/"),
                        headers=headers,
                    )
                    ctx.body_memory = await run_body_memory(ctx, client, stop)
                case CheckName.SWEEP:
                    ctx.sweep = await run_sweep(ctx, factory, body=body, stop=stop, clock=clock)
                case CheckName.BLOCKING:
                    result = await run_blocking(ctx, factory, body=body, stop=stop, clock=clock)
                    ctx.blocking = result
                    if result is None and not stop.is_set():
                        ctx.notifications.append(
                            Notification(
                                level=NotificationLevel.NOTE,
                                message="event-loop blocking not measured: no health endpoint "
                                "(give --health-path)",
                            )
                        )
                case CheckName.ROBUSTNESS:
                    ctx.repeats = await run_repeats(ctx, client)
                    ctx.robustness = await run_robustness(ctx, client)
        except (OSError, httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            # One failing check must not end the run; say what broke and go on.
            ctx.notifications.append(
                Notification(
                    level=NotificationLevel.ERROR,
                    message=ctx.redact(
                        f"check `{check.value}` failed: {type(exc).__name__}: {exc}"
                    ),
                )
            )
    if meter is not None:
        meter.finish()
    if sampler is not None:
        last = await sample_memory(ctx, client)
        sampler_stop.set()
        await sampler
        if last is not None:
            ctx.memory.append(last)


def _step_plan(
    check: CheckName, plan: ProbePlan, transport: httpx.AsyncBaseTransport | None
) -> dict[str, Any]:
    """What a live display can expect of a step: its length (an upper bound for the sweep,
    whose steps end once stable) and, for the open loop, its number of requests."""
    match check:
        case CheckName.LOAD:
            # load sent from worker processes is not counted here: then progress is by time
            counted = plan.workers <= 1 or transport is not None
            return {
                "planned_s": plan.duration_s,
                "planned_requests": math.ceil(plan.rate * plan.duration_s) if counted else None,
            }
        case CheckName.SWEEP:
            return {"planned_s": len(plan.sweep) * plan.sweep_max_step_s}
        case CheckName.BLOCKING:  # idle canary, one user, then many users beside the canary
            return {"planned_s": 3 * plan.blocking_duration_s}
        case _:
            return {}


def _prediction_works(ctx: ProbeContext) -> bool:
    """False when the contract check saw the known-good request fail (load would only
    measure errors). Credentials refused are reported but do not stop the run."""
    contract = ctx.contract
    if contract is None or contract.prediction is None:
        return True
    return contract.prediction.ok
