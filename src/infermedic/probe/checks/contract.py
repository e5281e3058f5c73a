"""The service contract: liveness, readiness, `/metrics`, a known-good prediction, version, auth."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infermedic.model import Notification, NotificationLevel
from infermedic.probe.checks.robustness import send_fresh
from infermedic.probe.context import ContractResult, ProbeContext
from infermedic.probe.http import Exchange, ProbeClient
from infermedic.probe.metrics import MetricsParseError, parse_metrics

VERSION_KEYS = ("model_version", "modelVersion", "version")
UNVERSIONED = frozenset({"", "default", "none", "null"})


async def run_contract(ctx: ProbeContext, client: ProbeClient) -> ContractResult:
    service = ctx.service
    result = ContractResult()
    result.liveness = await _get(client, service.exchanges, service.liveness_path)
    result.readiness = await _get(client, service.exchanges, service.readiness_path)
    if service.metrics_path is not None:
        result.metrics = await _get(client, service.exchanges, service.metrics_path)
        if result.metrics is not None and result.metrics.ok:
            try:
                samples = parse_metrics(result.metrics.body.decode("utf-8", "replace"))
            except MetricsParseError as exc:
                result.metrics_error = str(exc)
            else:
                result.versions.extend(
                    (f"/metrics label {label}", value)
                    for (name, labels) in samples
                    for label, value in labels
                    if _is_model_version_label(name, label) and value.lower() not in UNVERSIONED
                )
    result.versions.extend(service.declared_versions)
    if service.predict_path is not None:
        prediction = await client.request(
            "POST", service.predict_path, json_body=service.request_body
        )
        if prediction.status == 0 or prediction.status >= 500:
            # one failure of the known-good request would skip every later check: try it
            # once more on a fresh connection before believing it
            again = await send_fresh(
                ctx, client, service.predict_path, json_body=service.request_body
            )
            if again.ok:
                ctx.notifications.append(
                    Notification(
                        level=NotificationLevel.WARNING,
                        message=(
                            f"the known-good request first got "
                            f"{prediction.status or 'no response'}, then {again.status} on a "
                            "fresh connection: a transient failure, not counted"
                        ),
                    )
                )
                prediction = again
        result.prediction = prediction
        result.versions.extend(versions_in_response(prediction))
        if ctx.plan.secrets():
            result.unauthenticated = await client.request(
                "POST", service.predict_path, json_body=service.request_body, auth=False
            )
    result.versions = list(dict.fromkeys(result.versions))
    return result


def _is_model_version_label(metric: str, label: str) -> bool:
    """`model_version` on an `*_info` metric, or `version` on a model info metric; never
    `python_info{version=...}`, the interpreter's own version."""
    if not metric.endswith("_info"):
        return False
    return label == "model_version" or (label == "version" and "model" in metric)


def versions_in_response(exchange: Exchange) -> list[tuple[str, str]]:
    """The model version a prediction response names, in its body or headers."""
    found: list[tuple[str, str]] = []
    header = exchange.headers.get("x-model-version")
    if header and header.lower() not in UNVERSIONED:
        found.append(("X-Model-Version response header", header))
    body = exchange.json()
    if exchange.ok and isinstance(body, Mapping):
        for key in VERSION_KEYS:
            value = body.get(key)
            if isinstance(value, str | int | float) and str(value).lower() not in UNVERSIONED:
                found.append((f"`{key}` in the prediction response", str(value)))
                break
    return found


async def _get(
    client: ProbeClient, seen: Mapping[str, Exchange], path: str | None
) -> Exchange | None:
    if path is None:
        return None
    cached = seen.get(path)
    return cached if cached is not None else await client.get(path)


def sane_prediction_body(exchange: Exchange) -> tuple[bool, str]:
    """A 2xx with a JSON body that is not empty; the reason when it is not."""
    if not exchange.ok:
        return False, f"answered {exchange.status}"
    body: Any = exchange.json()
    if body is None:
        return False, "answered 2xx with a body that is not JSON"
    if body in ({}, [], ""):
        return False, "answered 2xx with an empty JSON body"
    return True, ""
