"""Benchmark: server time infermedic.instrument adds per request, against the bare app and
prometheus-fastapi-instrumentator, measured in-process at the ASGI level.

Run: `.venv/bin/python bench/instrument/run.py [--calls N] [--rounds R]`; writes
`bench/instrument/results.md` (see README.md beside this file).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import importlib.metadata
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from pydantic import BaseModel

from infermedic.instrument import PredictionLogger, instrument, stage

ASGIApp = Callable[..., Awaitable[None]]
HERE = Path(__file__).resolve().parent
BODY = json.dumps({"age": 42.0, "tenure": 7.0, "plan": "pro"}).encode()


class Features(BaseModel):
    age: float
    tenure: float
    plan: str


WEIGHTS = {"basic": 0.1, "pro": 0.3, "team": 0.5}


def _api(*, stages: bool, logger: PredictionLogger | None) -> FastAPI:
    """The same small churn service; `stages` wraps its three steps in stage timers."""
    api = FastAPI()

    def preprocess(features: Features) -> list[float]:
        return [features.age / 100.0, features.tenure / 10.0, WEIGHTS[features.plan]]

    def predict(row: list[float]) -> float:
        return min(1.0, sum(row) / 3.0)

    def postprocess(score: float) -> dict[str, Any]:
        return {"score": round(score, 4), "churn": score > 0.5}

    if stages:

        @api.post("/predict/{model}")
        async def predict_route(model: str, features: Features) -> dict[str, Any]:
            with stage("preprocess"):
                row = preprocess(features)
            with stage("predict"):
                score = predict(row)
            with stage("postprocess"):
                result = postprocess(score)
            if logger is not None:
                logger.log(features.model_dump(), result["churn"], outputs={"score": score})
            return result

    else:

        @api.post("/predict/{model}")
        async def predict_route(model: str, features: Features) -> dict[str, Any]:
            return postprocess(predict(preprocess(features)))

    return api


def _variants(logger: PredictionLogger) -> dict[str, ASGIApp]:
    from prometheus_fastapi_instrumentator import Instrumentator

    variants: dict[str, ASGIApp] = {"bare": _api(stages=False, logger=None)}
    variants["infermedic (3 stages + prediction log)"] = instrument(
        _api(stages=True, logger=logger),
        model_name="churn",
        model_version="1",
        registry=CollectorRegistry(),
        loop_lag=False,  # the sampler runs between requests, not in them
    )
    variants["infermedic (3 stages, no log)"] = instrument(
        _api(stages=True, logger=None), registry=CollectorRegistry(), loop_lag=False
    )
    instrumented = _api(stages=False, logger=None)
    Instrumentator(registry=CollectorRegistry()).instrument(instrumented)
    variants["prometheus-fastapi-instrumentator"] = instrumented
    return variants


def _scope() -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/predict/churn",
        "raw_path": b"/predict/churn",
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"bench"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(BODY)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def _call(app: ASGIApp) -> int:
    """One request through the ASGI app; returns its duration in nanoseconds."""
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": BODY, "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    start = time.perf_counter_ns()
    await app(_scope(), receive, send)
    elapsed = time.perf_counter_ns() - start
    if status != 200:
        raise RuntimeError(f"benchmark request failed with {status}")
    return elapsed


def _percentile(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000.0


async def _run(calls: int, rounds: int, logger: PredictionLogger) -> dict[str, list[list[int]]]:
    variants = _variants(logger)
    for app in variants.values():  # warm-up: FastAPI builds its middleware stack lazily
        for _ in range(200):
            await _call(app)
    durations: dict[str, list[list[int]]] = {name: [] for name in variants}
    order = list(variants)
    rng = random.Random(0)
    for _ in range(rounds):
        # Interleaved, shuffled rounds: machine noise (this host is shared) hits every
        # variant alike instead of biasing whichever ran during a busy spell.
        rng.shuffle(order)
        for name in order:
            app = variants[name]
            gc.collect()
            durations[name].append([await _call(app) for _ in range(calls)])
    return durations


def _report(
    durations: dict[str, list[list[int]]], calls: int, rounds: int, seconds: float, logged: int
) -> str:
    pooled = {name: [d for block in blocks for d in block] for name, blocks in durations.items()}
    round_medians = {
        name: [statistics.median(block) / 1000.0 for block in blocks]
        for name, blocks in durations.items()
    }
    bare_p99 = _percentile(pooled["bare"], 0.99)
    lines = [
        "# infermedic.instrument overhead",
        "",
        f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {seconds:.0f} s; "
        f"{rounds} interleaved rounds x {calls} calls per variant "
        f"({rounds * calls} requests each), in-process ASGI calls "
        "(`await app(scope, receive, send)`, no sockets), one POST with a JSON body "
        "validated by pydantic, an `async def` FastAPI route.",
        "",
        f"Python {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs (shared with other work), "
        + ", ".join(
            f"{pkg} {importlib.metadata.version(pkg)}"
            for pkg in (
                "fastapi",
                "starlette",
                "prometheus-client",
                "prometheus-fastapi-instrumentator",
            )
        )
        + ".",
        "",
        "| variant | median µs | p99 µs | added median µs | added p99 µs |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, values in pooled.items():
        median = statistics.median(values) / 1000.0
        p99 = _percentile(values, 0.99)
        if name == "bare":
            added = added_p99 = "—"
        else:
            # Paired by round: each round's median minus the bare app's in the same round,
            # then the median of those differences, so slow spells on the shared machine
            # cancel out instead of landing on one variant.
            differences = [
                mine - bare
                for mine, bare in zip(round_medians[name], round_medians["bare"], strict=True)
            ]
            added = f"{statistics.median(differences):+.1f}"
            added_p99 = f"{p99 - bare_p99:+.1f}"
        lines.append(f"| {name} | {median:.1f} | {p99:.1f} | {added} | {added_p99} |")
    lines += [
        "",
        "\"added median\" is the median over rounds of (variant's round median - bare app's "
        'round median); "added p99" is the pooled p99 difference, noisier on a shared machine.',
        "",
        f"The prediction logger wrote {logged} rows (JSONL, default settings: batches of up to "
        "1000 rows, 1 s interval) and dropped none; its writer thread shares the GIL with the "
        "requests, so its work is part of the measured time in this saturated loop.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=200, help="calls per variant per round")
    parser.add_argument("--rounds", type=int, default=100, help="interleaved rounds")
    parser.add_argument("--output", type=Path, default=HERE / "results.md")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="infermedic-bench-") as log_dir:
        logger = PredictionLogger(log_dir, registry=CollectorRegistry())
        durations = asyncio.run(_run(args.calls, args.rounds, logger))
        if not logger.close() or logger.dropped:
            raise RuntimeError(f"prediction log lost rows: {logger.dropped} dropped")
        logged = logger.written
    text = _report(durations, args.calls, args.rounds, time.perf_counter() - started, logged)
    args.output.write_text(text, encoding="utf-8")
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
