"""Malformed inputs must get 4xx, never 5xx; the same input twice must give the same output."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from infermedic.probe.context import ProbeContext, RobustnessCase
from infermedic.probe.http import Exchange, ProbeClient

OVERSIZED_BYTES = 2 * 1024 * 1024
Path = tuple[str | int, ...]


def _leaves(value: Any, path: Path = ()) -> list[tuple[Path, Any]]:
    if isinstance(value, Mapping):
        return [leaf for k, v in value.items() for leaf in _leaves(v, (*path, k))]
    if isinstance(value, list):
        return [leaf for i, v in enumerate(value) for leaf in _leaves(v, (*path, i))]
    return [(path, value)]


def _replaced(body: Any, path: Path, value: Any) -> Any:
    changed = copy.deepcopy(body)
    node = changed
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return changed


def malformed_cases(
    body: Any, schema: Mapping[str, Any] | None, oversized_bytes: int = OVERSIZED_BYTES
) -> list[tuple[str, bytes, str]]:
    """(case name, raw body, content type) for each malformed request derived from `body`."""
    as_json = "application/json"
    cases: list[tuple[str, bytes, str]] = []
    leaves = [(p, v) for p, v in _leaves(body) if p]
    numbers = [(p, v) for p, v in leaves if isinstance(v, int | float) and not isinstance(v, bool)]
    if isinstance(body, Mapping) and body:
        required = schema.get("required") if isinstance(schema, Mapping) else None
        field = next((f for f in required or () if f in body), next(iter(body)))
        missing = {k: v for k, v in body.items() if k != field}
        cases.append((f"missing field `{field}`", _dumps(missing), as_json))
    if leaves:
        path, value = numbers[0] if numbers else leaves[0]
        wrong: Any = "not-a-number" if not isinstance(value, str) else {"unexpected": [1]}
        cases.append(
            (f"wrong type at `{_show(path)}`", _dumps(_replaced(body, path, wrong)), as_json)
        )
    if numbers:
        path = numbers[0][0]
        cases.append(
            (f"NaN at `{_show(path)}`", _dumps(_replaced(body, path, float("nan"))), as_json)
        )
        cases.append(
            (
                f"out-of-range value 1e308 at `{_show(path)}`",
                _dumps(_replaced(body, path, 1e308)),
                as_json,
            )
        )
    cases.append(("empty body", b"", as_json))
    cases.append(("body that is not JSON", b"{not json", as_json))
    cases.append(("wrong content type (text/plain)", _dumps(body), "text/plain"))
    padding = "x" * oversized_bytes
    big = {**body, "padding": padding} if isinstance(body, Mapping) else [padding]
    cases.append((f"oversized body ({oversized_bytes // 1024} KiB)", _dumps(big), as_json))
    return cases


def _dumps(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


def _show(path: Path) -> str:
    return ".".join(str(p) for p in path)


async def run_robustness(ctx: ProbeContext, client: ProbeClient) -> list[RobustnessCase]:
    service = ctx.service
    if service.predict_path is None:
        return []
    results: list[RobustnessCase] = []
    for name, content, content_type in malformed_cases(
        service.request_body, service.request_schema
    ):
        exchange = await client.request(
            "POST", service.predict_path, content=content, content_type=content_type
        )
        results.append(RobustnessCase(name=name, exchange=exchange))
    return results


async def run_repeats(ctx: ProbeContext, client: ProbeClient, count: int = 2) -> list[Exchange]:
    """The known-good request again, `count` times, for the determinism and version checks."""
    service = ctx.service
    if service.predict_path is None:
        return []
    return [
        await client.request("POST", service.predict_path, json_body=service.request_body)
        for _ in range(count)
    ]
