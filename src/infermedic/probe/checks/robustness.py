"""Malformed inputs must get 4xx, never 5xx; production-like variations of the known-good
body must not get 5xx either; the same input twice must give the same output."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from infermedic.probe.checks.bodies import mark_varied_traffic
from infermedic.probe.context import ProbeContext
from infermedic.probe.http import Exchange, ProbeClient
from infermedic.probe.observations import RobustnessCase
from infermedic.probe.payload import body_variants

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


@dataclass(frozen=True, kw_only=True)
class MalformedCase:
    """A malformed request: its raw body, content type, the field it breaks, and whether it
    holds a number JSON cannot express (NaN)."""

    name: str
    content: bytes
    content_type: str
    field: str | None = None
    non_json: bool = False


def malformed_cases(
    body: Any, schema: Mapping[str, Any] | None, oversized_bytes: int = OVERSIZED_BYTES
) -> list[MalformedCase]:
    """Each malformed request derived from `body`."""
    as_json = "application/json"
    cases: list[MalformedCase] = []
    leaves = [(p, v) for p, v in _leaves(body) if p]
    numbers = [(p, v) for p, v in leaves if isinstance(v, int | float) and not isinstance(v, bool)]
    if isinstance(body, Mapping) and body:
        required = schema.get("required") if isinstance(schema, Mapping) else None
        field = next((f for f in required or () if f in body), next(iter(body)))
        missing = {k: v for k, v in body.items() if k != field}
        cases.append(
            MalformedCase(
                name=f"missing field `{field}`",
                content=_dumps(missing),
                content_type=as_json,
                field=str(field),
            )
        )
    if leaves:
        path, value = numbers[0] if numbers else leaves[0]
        wrong: Any = "not-a-number" if not isinstance(value, str) else {"unexpected": [1]}
        cases.append(
            MalformedCase(
                name=f"wrong type at `{_show(path)}`",
                content=_dumps(_replaced(body, path, wrong)),
                content_type=as_json,
                field=_show(path),
            )
        )
    if numbers:
        path = numbers[0][0]
        cases.append(
            MalformedCase(
                name=f"NaN at `{_show(path)}`",
                content=_dumps(_replaced(body, path, float("nan"))),
                content_type=as_json,
                field=_show(path),
                non_json=True,
            )
        )
        cases.append(
            MalformedCase(
                name=f"out-of-range value 1e308 at `{_show(path)}`",
                content=_dumps(_replaced(body, path, 1e308)),
                content_type=as_json,
                field=_show(path),
            )
        )
    cases.append(MalformedCase(name="empty body", content=b"", content_type=as_json))
    cases.append(
        MalformedCase(name="body that is not JSON", content=b"{not json", content_type=as_json)
    )
    cases.append(
        MalformedCase(
            name="wrong content type (text/plain)", content=_dumps(body), content_type="text/plain"
        )
    )
    padding = "x" * oversized_bytes
    big = {**body, "padding": padding} if isinstance(body, Mapping) else [padding]
    cases.append(
        MalformedCase(
            name=f"oversized body ({oversized_bytes // 1024} KiB)",
            content=_dumps(big),
            content_type=as_json,
        )
    )
    return cases


def _dumps(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


def _show(path: Path) -> str:
    return ".".join(str(p) for p in path)


async def run_robustness(ctx: ProbeContext, client: ProbeClient) -> list[RobustnessCase]:
    """Each malformed request, then each production-like variation of the known-good body
    (bounded by `plan.max_variants`); a 5xx or no answer is sent again on a fresh
    connection, so a failure of the connection is not counted as one of the input."""
    service = ctx.service
    path = service.predict_path
    if path is None:
        return []
    mark_varied_traffic(ctx)
    results: list[RobustnessCase] = []
    for case in malformed_cases(service.request_body, service.request_schema):
        exchange = await client.request(
            "POST", path, content=case.content, content_type=case.content_type
        )
        results.append(
            RobustnessCase(
                name=case.name,
                exchange=exchange,
                field=case.field,
                body=_shown_body(case.content),
                non_json=case.non_json,
                raw=case.content,
                content_type=case.content_type,
            )
        )
    variants = body_variants(
        service.request_body,
        service.request_schema,
        service.openapi,
        limit=ctx.plan.max_variants,
    )
    for variant in variants:
        exchange = await client.request("POST", path, json_body=variant.body)
        results.append(
            RobustnessCase(
                name=variant.name,
                exchange=exchange,
                kind=variant.kind,
                field=variant.field,
                body=variant.body,
                valid=variant.valid,
            )
        )
    if any(r.exchange.status == 0 or r.exchange.status >= 500 for r in results):
        await _recheck(ctx, client, path, results)
    return results


async def _recheck(
    ctx: ProbeContext, client: ProbeClient, path: str, results: list[RobustnessCase]
) -> None:
    """Send each failed request again, each on its own new connection."""
    for number, case in enumerate(results):
        if not (case.exchange.status == 0 or case.exchange.status >= 500):
            continue
        if case.raw is not None:
            recheck = await send_fresh(
                ctx, client, path, content=case.raw, content_type=case.content_type
            )
        else:
            recheck = await send_fresh(ctx, client, path, json_body=case.body)
        results[number] = replace(case, recheck=recheck)


async def send_fresh(
    ctx: ProbeContext,
    client: ProbeClient,
    path: str,
    *,
    json_body: Any = None,
    content: bytes | None = None,
    content_type: str | None = None,
) -> Exchange:
    """POST once on a new connection (a client of its own, closed after).

    A server that closes a connection after a 500 (uvicorn after an unhandled exception)
    makes the next request on it fail with a read error: the connection's fault, not the
    input's. A fresh connection tells the two apart.
    """
    fresh = ProbeClient(
        client.base_url,
        transport=ctx.transport,
        auth_headers=client.auth_headers(),
        timeout_s=client.timeout_s,
        max_body=client.max_body,
        target=client.target,
    )
    try:
        if content is not None:
            return await fresh.request("POST", path, content=content, content_type=content_type)
        return await fresh.request("POST", path, json_body=json_body)
    finally:
        await fresh.aclose()


def _shown_body(content: bytes) -> Any:
    """The exact body sent: raw bytes when short or not JSON, else the parsed JSON."""
    if len(content) > 4096:
        return f"<{len(content)} bytes>"  # the oversized body, shown by its size
    try:
        return json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return content.decode("utf-8", "replace")


async def run_repeats(ctx: ProbeContext, client: ProbeClient, count: int = 2) -> list[Exchange]:
    """The known-good request again, `count` times, for the determinism and version checks."""
    service = ctx.service
    if service.predict_path is None:
        return []
    return [
        await client.request("POST", service.predict_path, json_body=service.request_body)
        for _ in range(count)
    ]
