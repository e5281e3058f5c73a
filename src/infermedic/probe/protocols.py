"""Which serving protocols a URL speaks, found with GET requests only (serving.md §1.8)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from infermedic.model import Evidence
from infermedic.probe.http import Exchange, ProbeClient, Redactor
from infermedic.probe.payload import openapi_example, resolve_ref, v2_request

if TYPE_CHECKING:
    from infermedic.probe.repo_hints import RepoHints

# Every GET the detector may send. None of them changes server state.
DISCOVERY_PATHS = (
    "/",
    "/openapi.json",
    "/docs.json",
    "/schema.json",
    "/v2",
    "/v2/health/live",
    "/v2/health/ready",
    "/v1/models",
    "/ping",
    "/health",
    "/healthz",
    "/livez",
    "/readyz",
    "/ready",
    "/version",
    "/invocations",
    "/-/healthz",
    "/-/routes",
    "/metrics",
)
LIVENESS_CANDIDATES = ("/v2/health/live", "/livez", "/-/healthz", "/healthz", "/health", "/ping")
READINESS_CANDIDATES = ("/v2/health/ready", "/readyz", "/ready")
PREDICT_WORDS = ("predict", "infer", "invocations", "score", "classify", "forecast")
METADATA_WORDS = ("metadata", "info", "model", "version")
TORCHSERVE_MANAGEMENT_PORT = 8081
ABSENT = (0, 404)  # no response, or "this server does not have the route"


@dataclass(frozen=True, kw_only=True, slots=True)
class ProtocolMatch:
    """One protocol the target speaks, with how sure and why."""

    protocol: (
        str  # open-inference-v2 | kserve-v1 | torchserve | mlflow | bentoml | ray-serve | openapi
    )
    confidence: str  # high | medium
    detail: str
    evidence: tuple[Evidence, ...] = ()


@dataclass(frozen=True, kw_only=True)
class ServiceMap:
    """What detection learnt: protocols, the routes to use and the request body."""

    protocols: tuple[ProtocolMatch, ...] = ()
    predict_path: str | None = None
    predict_reason: str = ""
    request_body: Any = None
    body_source: str | None = None
    liveness_path: str | None = None
    readiness_path: str | None = None
    metrics_path: str | None = None
    model_name: str | None = None
    declared_versions: tuple[tuple[str, str], ...] = ()  # (source, version)
    request_schema: Mapping[str, Any] | None = None
    openapi: Mapping[str, Any] | None = None
    exchanges: Mapping[str, Exchange] = field(default_factory=dict)
    notes: tuple[str, ...] = ()  # why a repo route or example was not used

    def names(self) -> tuple[str, ...]:
        return tuple(m.protocol for m in self.protocols)


async def detect(
    client: ProbeClient,
    redact: Redactor,
    *,
    predict_path: str | None = None,
    health_path: str | None = None,
    model_name: str | None = None,
    input_body: Any = None,
    input_source: str | None = None,
    repo: RepoHints | None = None,
) -> ServiceMap:
    """Fingerprint the target with GETs and choose the predict route and a request body.

    The route comes from `predict_path` (`--predict-path`), else the repo's route index
    (`repo`), else the serving protocol or the OpenAPI document. The body comes from
    `input_body` (`--input`), else protocol metadata or the OpenAPI schema, else a request
    example in the repo's tests.
    """
    paths = list(DISCOVERY_PATHS)
    if health_path and health_path not in paths:
        paths.append(health_path)
    answers = await asyncio.gather(*(client.get(p) for p in paths))
    seen: dict[str, Exchange] = dict(zip(paths, answers, strict=True))

    def ev(*keys: str) -> tuple[Evidence, ...]:
        return tuple(seen[k].evidence(redact) for k in keys if k in seen)

    matches: list[ProtocolMatch] = []
    openapi = _openapi_document(seen)
    model = model_name or _model_from_sources(seen)
    declared: list[tuple[str, str]] = []
    body: Any = input_body
    body_source = input_source if input_body is not None else None
    chosen_predict = predict_path
    reason = "--predict-path" if predict_path else ""
    notes: list[str] = []
    if not chosen_predict and repo is not None:
        chosen_predict, reason = await _repo_route(client, repo, seen, notes)

    # Open Inference Protocol (KServe V2): GET /v2 → {"name", "version", "extensions"}.
    v2 = seen["/v2"].json()
    if seen["/v2"].ok and isinstance(v2, Mapping) and ("extensions" in v2 or "name" in v2):
        detail = f"server {v2.get('name', '?')} {v2.get('version', '')}".strip()
        v2_keys = ["/v2", "/v2/health/live", "/v2/health/ready"]
        if model:
            meta_path = f"/v2/models/{model}"
            metadata = await client.get(meta_path)
            seen[meta_path] = metadata
            v2_keys.append(meta_path)
            meta = metadata.json()
            if metadata.ok and isinstance(meta, Mapping):
                declared.extend(("V2 model metadata", str(v)) for v in meta.get("versions") or [])
                if body is None and (built := v2_request(meta)) is not None:
                    body, body_source = built, f"V2 metadata of model {model!r}"
            if not chosen_predict:
                chosen_predict, reason = f"/v2/models/{model}/infer", "Open Inference protocol"
        matches.append(
            ProtocolMatch(
                protocol="open-inference-v2",
                confidence="high",
                detail=detail,
                evidence=ev(*v2_keys),
            )
        )

    v1 = seen["/v1/models"].json()
    if seen["/v1/models"].ok and isinstance(v1, Mapping) and isinstance(v1.get("models"), list):
        matches.append(
            ProtocolMatch(
                protocol="kserve-v1",
                confidence="high",
                detail="models: " + ", ".join(map(str, v1["models"])),
                evidence=ev("/v1/models"),
            )
        )

    ping = seen["/ping"]
    ping_json = ping.json()
    if isinstance(ping_json, Mapping) and "Healthy" in str(ping_json.get("status", "")):
        management = await _torchserve_models(client, seen)
        if management is not None:
            declared.extend(
                ("TorchServe management API", str(entry["modelVersion"]))
                for entry in management
                if isinstance(entry, Mapping) and entry.get("modelVersion")
            )
        if not chosen_predict and model:
            chosen_predict, reason = f"/predictions/{model}", "TorchServe inference API"
        matches.append(
            ProtocolMatch(
                protocol="torchserve",
                confidence="high",
                detail=f"/ping says {ping_json['status']}",
                evidence=ev("/ping"),
            )
        )

    version_text = seen["/version"].body.decode("utf-8", "replace").strip().strip('"')
    mlflow_ping = ping.ok and ping.body.strip() in (b"", b'""') and seen["/health"].ok
    invocations_route = seen["/invocations"].status == 405
    if (mlflow_ping and re.fullmatch(r"\d+\.\d+[\w.+-]*", version_text)) or invocations_route:
        confidence = "high" if mlflow_ping and invocations_route else "medium"
        if not chosen_predict:
            chosen_predict, reason = "/invocations", "MLflow scoring protocol"
        matches.append(
            ProtocolMatch(
                protocol="mlflow",
                confidence=confidence,
                detail=f"/ping + /invocations; /version {version_text!r} is MLflow's own version",
                evidence=ev("/ping", "/version", "/invocations"),
            )
        )

    servers = [e.headers.get("server", "") for e in seen.values() if e.status]
    server_header = next((s for s in servers if s.startswith("BentoML")), "")
    bento_header = bool(server_header)
    bento_routes = seen["/livez"].ok and seen["/readyz"].status not in ABSENT
    if bento_header or (bento_routes and seen["/docs.json"].ok):
        matches.append(
            ProtocolMatch(
                protocol="bentoml",
                confidence="high" if bento_header else "medium",
                detail=f"Server: {server_header}"
                if bento_header
                else "/livez, /readyz, /docs.json",
                evidence=ev("/livez", "/readyz", "/docs.json"),
            )
        )

    routes = seen["/-/routes"].json()
    if seen["/-/healthz"].ok and isinstance(routes, Mapping):
        matches.append(
            ProtocolMatch(
                protocol="ray-serve",
                confidence="high",
                detail="routes: " + ", ".join(f"{k} → {v}" for k, v in routes.items()),
                evidence=ev("/-/healthz", "/-/routes"),
            )
        )

    schema: Mapping[str, Any] | None = None
    if openapi is not None:
        source_path, document = openapi
        info = document.get("info", {}) if isinstance(document.get("info"), Mapping) else {}
        if source_path == "/openapi.json":
            matches.append(
                ProtocolMatch(
                    protocol="openapi",
                    confidence="high",
                    detail=f"OpenAPI {document.get('openapi', '?')}: {info.get('title', '')}",
                    evidence=ev("/openapi.json"),
                )
            )
        if not chosen_predict:
            found = _predict_route(document)
            if found:
                chosen_predict, reason = found, f"POST route in {source_path}"
        if chosen_predict:
            operation = _operation(document, chosen_predict)
            if operation is not None:
                schema = _request_schema(operation, document)
                if body is None:
                    example = openapi_example(operation, document)
                    if example is not None:
                        body, body_source = example, f"example built from {source_path} schema"
        declared.extend(await _metadata_versions(client, document, seen))

    if body is None and chosen_predict and repo is not None:
        example = repo.example_for(chosen_predict)
        if example is not None:
            body, body_source = example.body, f"request example in {example.source}"
        elif repo.examples:
            posted = ", ".join(sorted({e.path for e in repo.examples}))
            notes.append(f"the repo's tests post to {posted}, not to {chosen_predict}")
    liveness = health_path or _first_present(seen, LIVENESS_CANDIDATES, document_of(openapi))
    readiness = _first_present(seen, READINESS_CANDIDATES, document_of(openapi))
    metrics = "/metrics" if seen["/metrics"].status not in ABSENT else None
    return ServiceMap(
        protocols=tuple(matches),
        predict_path=chosen_predict,
        predict_reason=reason,
        request_body=body,
        body_source=body_source,
        liveness_path=liveness,
        readiness_path=readiness,
        metrics_path=metrics,
        model_name=model,
        declared_versions=tuple(declared),
        request_schema=schema,
        openapi=document_of(openapi),
        exchanges=seen,
        notes=tuple(notes),
    )


async def _repo_route(
    client: ProbeClient, repo: RepoHints, seen: dict[str, Exchange], notes: list[str]
) -> tuple[str | None, str]:
    """The repo's prediction route, if the target has it.

    A GET to a POST-only route answers 405 on every framework we know; a 404 means the
    target does not serve the route (another service, or a mount prefix the code does not
    show), so it is not used.
    """
    route = repo.predict
    if route is None:
        notes.append(repo.predict_reason)
        return None, ""
    if route.path not in seen:
        seen[route.path] = await client.get(route.path)
    if seen[route.path].status == 404:
        notes.append(
            f"{repo.predict_reason}, but GET {route.path} answers 404 here: "
            "the target does not serve it (give --predict-path)"
        )
        return None, ""
    return route.path, repo.predict_reason


def document_of(openapi: tuple[str, Mapping[str, Any]] | None) -> Mapping[str, Any] | None:
    return openapi[1] if openapi else None


def _openapi_document(seen: Mapping[str, Exchange]) -> tuple[str, Mapping[str, Any]] | None:
    for path in ("/openapi.json", "/docs.json"):
        document = seen[path].json() if seen[path].ok else None
        if isinstance(document, Mapping) and isinstance(document.get("paths"), Mapping):
            return path, document
    return None


def _operation(document: Mapping[str, Any], path: str) -> Mapping[str, Any] | None:
    item = document.get("paths", {}).get(path)
    post = item.get("post") if isinstance(item, Mapping) else None
    return post if isinstance(post, Mapping) else None


def _request_schema(
    operation: Mapping[str, Any], document: Mapping[str, Any]
) -> Mapping[str, Any] | None:
    try:
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
    except (KeyError, TypeError):
        return None
    if isinstance(schema, Mapping) and "$ref" in schema:
        schema = resolve_ref(document, str(schema["$ref"]))
    return schema if isinstance(schema, Mapping) else None


def _predict_route(document: Mapping[str, Any]) -> str | None:
    """The POST route that looks like prediction; the only POST route when there is one."""
    posts = [
        path
        for path, item in document.get("paths", {}).items()
        if isinstance(item, Mapping) and "post" in item and "{" not in path
    ]
    for word in PREDICT_WORDS:
        for path in posts:
            if word in path.lower():
                return str(path)
    return str(posts[0]) if len(posts) == 1 else None


def _first_present(
    seen: Mapping[str, Exchange], candidates: tuple[str, ...], document: Mapping[str, Any] | None
) -> str | None:
    for path in candidates:
        if path in seen and seen[path].status not in (*ABSENT, 405):
            return path
    if document is not None:
        words = ("live", "health", "ping") if "/livez" in candidates else ("ready",)
        for path, item in document.get("paths", {}).items():
            if isinstance(item, Mapping) and "get" in item and any(w in path for w in words):
                return str(path)
    return None


def _model_from_sources(seen: Mapping[str, Exchange]) -> str | None:
    """A model name from KServe's V1 list or a `model`/`model_name` metrics label."""
    v1 = seen["/v1/models"].json()
    if isinstance(v1, Mapping) and isinstance(v1.get("models"), list) and v1["models"]:
        return str(v1["models"][0])
    if seen["/metrics"].ok:
        text = seen["/metrics"].body.decode("utf-8", "replace")
        found = re.search(r'\bmodel(?:_name)?="([^"]+)"', text)
        if found:
            return found.group(1)
    return None


async def _torchserve_models(client: ProbeClient, seen: dict[str, Exchange]) -> list[Any] | None:
    """The read-only management API on the same host (`GET :8081/models/{m}`), if reachable."""
    parts = urlsplit(client.base_url)
    host = parts.hostname or "127.0.0.1"
    management = urlunsplit((parts.scheme, f"{host}:{TORCHSERVE_MANAGEMENT_PORT}", "", "", ""))
    listing = await client.get(management + "/models")
    seen[management + "/models"] = listing
    data = listing.json()
    if not listing.ok or not isinstance(data, Mapping):
        return None
    details: list[Any] = []
    for entry in data.get("models", [])[:4]:
        name = entry.get("modelName") if isinstance(entry, Mapping) else None
        if name:
            answer = await client.get(f"{management}/models/{name}")
            seen[f"{management}/models/{name}"] = answer
            if isinstance(answer.json(), list):
                details.extend(answer.json())
    return details


async def _metadata_versions(
    client: ProbeClient, document: Mapping[str, Any], seen: dict[str, Exchange]
) -> list[tuple[str, str]]:
    """Versions from metadata-like GET routes the OpenAPI document lists (`/model/info`)."""
    found: list[tuple[str, str]] = []
    for path, item in document.get("paths", {}).items():
        if not isinstance(item, Mapping) or "get" not in item or "{" in path:
            continue
        last = path.rstrip("/").rsplit("/", 1)[-1].lower()
        # A plain-text `/version` (MLflow: its own package version) is not a JSON mapping
        # and is skipped below.
        if last not in METADATA_WORDS:
            continue
        answer = seen.get(path) or await client.get(path)
        seen[path] = answer
        data = answer.json()
        if answer.ok and isinstance(data, Mapping):
            version = data.get("model_version") or data.get("version")
            if isinstance(version, str | int | float) and version != "":
                found.append((f"GET {path}", str(version)))
    return found
