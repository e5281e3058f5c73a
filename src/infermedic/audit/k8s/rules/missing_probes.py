"""K8S003: serving containers without a readiness probe, or probing a path the app lacks."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import ClassVar

from infermedic.audit.k8s.loader import YamlDocument, documents, path, source_line, text
from infermedic.audit.k8s.probes import container_routes, route_defined
from infermedic.audit.k8s.workloads import (
    SERVING_KINDS,
    Container,
    Service,
    Workload,
    kind_of,
    services,
    workloads,
)
from infermedic.audit.project import AuditProject, FileKind, ProjectRule, Route
from infermedic.model import Evidence, EvidenceKind, Finding, Location, Severity


class MissingProbes(ProjectRule):
    """## What it does
    Checks for serving containers (in a Deployment, StatefulSet, DaemonSet, ReplicaSet,
    Rollout or Pod) that declare a port, run a server command (`gunicorn`, `uvicorn`, …)
    or sit behind a Service but have no `readinessProbe`, and, when the app's routes are
    known, for HTTP probes on a path the app does not define. In multi-container pods, known
    sidecars (proxies, log shippers, collectors) do not count: a sidecar that declares the
    port does not hide the app container's missing probe. Third-party workloads (an image
    from `registry.k8s.io`, `quay.io`…, a file that also declares an `APIService`, CRD or
    webhook, or a `kube-system` object) are checked for a readiness probe only: their probe
    paths are not compared with this repository's routes. Helm chart templates are read
    as rendered with the chart's default values; hook pods (`helm test`) do not serve.

    ## Why is this bad?
    Without a readiness probe a pod gets traffic as soon as its process starts, before the
    model is loaded: every rollout and every scale-up answers its first requests with errors
    or long stalls. A probe on a path the app does not serve fails for ever: readiness
    keeps every pod out of the Service, liveness restarts it in a loop.

    ## Example
    ```yaml
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: churn-api
    spec:
      template:
        spec:
          containers:
            - name: api
              image: registry.example.com/churn-api:1.4.2
              ports: [{containerPort: 8000}]
    ```

    Use instead:
    ```yaml
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: churn-api
    spec:
      template:
        spec:
          containers:
            - name: api
              image: registry.example.com/churn-api:1.4.2
              ports: [{containerPort: 8000}]
              readinessProbe:
                httpGet: {path: /ready, port: 8000}
    ```

    ## Known problems
    A missing liveness probe is not reported: no liveness probe is safer than a wrong one.
    Route prefixes added outside the code the Python index reads (a proxy, `root_path`,
    a mounted sub-application) make a defined path look undefined; the path check runs only
    for containers that probe at least one known route, whose command names the app module
    (`uvicorn serving.app:app`, then against that service's routes only), or for the only
    HTTP-probed container in the repository.
    """

    code: ClassVar[str] = "K8S003"
    name: ClassVar[str] = "missing-probes"
    severity: ClassVar[Severity] = Severity.MEDIUM
    summary: ClassVar[str] = "A serving container has no readiness probe, or probes a missing path"
    fix: ClassVar[str] = "Add a readinessProbe on an endpoint that waits for the model to load"
    risk: ClassVar[str] = "traffic reaches pods before the model is loaded; errors on every rollout"
    file_kinds: ClassVar[tuple[FileKind, ...]] = (FileKind.YAML,)

    def check(self, project: AuditProject) -> Iterator[Finding]:
        docs = documents(project)
        all_services = list(services(docs))
        # A Helm hook (`helm test` pod, an install job) runs once and serves nothing.
        serving = [w for w in workloads(docs) if w.kind in SERVING_KINDS and w.hook is None]
        addon_files = _addon_files(docs)
        # Third-party workloads (metrics-server, an operator bundle) are judged only on what
        # they declare: their probe paths are theirs, not routes of this repository's app.
        ours = [
            (w, c) for w in serving for c in w.containers if not _third_party(w, c, addon_files)
        ]
        http_probed = [c for _, c in ours if any(p.path for p in c.probes.values())]
        for workload in serving:
            for container in workload.containers:
                if "readiness" not in container.probes and _serves(
                    workload, container, all_services
                ):
                    if workload.dropped_lines:
                        # the best-effort Helm reader left a block out: the probe may be in it
                        lines = ", ".join(str(n) for n in workload.dropped_lines[:3])
                        project.notify(
                            f"could not tell whether container `{container.name}` has a "
                            f"readinessProbe: the Helm template reader left out what line(s) "
                            f"{lines} render",
                            path=workload.relpath,
                            rule=self.code,
                        )
                    else:
                        yield self._missing(docs, workload, container)
                if _third_party(workload, container, addon_files):
                    continue
                routes, matched = container_routes(container, project.routes)
                if routes and (
                    matched or len(http_probed) == 1 or _probes_known_route(container, routes)
                ):
                    yield from self._undefined_paths(docs, routes, workload, container)

    def _missing(
        self, docs: list[YamlDocument], workload: Workload, container: Container
    ) -> Finding:
        liveness = "" if "liveness" in container.probes else " (nor a livenessProbe)"
        port = next((p for p in container.ports if p.isdigit()), "8000")
        return self.finding(
            Location(path=workload.relpath, line=container.line),
            f"container `{container.name}` of {workload.describe()} has no readinessProbe"
            f"{liveness}: it gets traffic as soon as its process starts, before a model is loaded",
            evidence=[
                Evidence(
                    kind=EvidenceKind.SOURCE,
                    action=f"{workload.relpath}:{container.line}",
                    observed=source_line(docs, workload.relpath, container.line),
                )
            ],
            fix=f"Add `readinessProbe: {{httpGet: {{path: /ready, port: {port}}}}}` to "
            f"container `{container.name}`",
            fingerprint_key=f"{workload.describe()}/{container.name}/readiness",
        )

    def _undefined_paths(
        self,
        docs: list[YamlDocument],
        routes: tuple[Route, ...],
        workload: Workload,
        container: Container,
    ) -> Iterator[Finding]:
        known = ", ".join(sorted({r.path for r in routes})[:8])
        for probe in container.probes.values():
            if probe.path is None or route_defined(probe.path, routes):
                continue
            line = probe.path_line or probe.line
            yield self.finding(
                Location(path=workload.relpath, line=line),
                f"{probe.kind}Probe of container `{container.name}` in {workload.describe()} "
                f"requests `{probe.path}`, which the app does not define (routes: {known})",
                evidence=[
                    Evidence(
                        kind=EvidenceKind.SOURCE,
                        action=f"{workload.relpath}:{line}",
                        observed=source_line(docs, workload.relpath, line),
                    ),
                    Evidence(
                        kind=EvidenceKind.SOURCE,
                        action="routes found in the Python sources",
                        observed=", ".join(
                            f"{r.method} {r.path} ({r.file}:{r.line})" for r in routes[:8]
                        ),
                    ),
                ],
                severity=Severity.HIGH if probe.kind == "liveness" else Severity.MEDIUM,
                fix=f"Point the {probe.kind}Probe at a path the app serves, or add the route",
                fingerprint_key=f"{workload.describe()}/{container.name}/{probe.kind}",
            )


def _serves(workload: Workload, container: Container, all_services: list[Service]) -> bool:
    """A container serves when it declares a port, when its command starts a server, or
    when it is the only container behind a Service besides known sidecars (a proxy or log
    shipper with a port must not hide the app container that declares none).

    A container without an image is a kustomize patch fragment, not a container spec."""
    if container.image is None:
        return False
    if container.serves_ports:
        return True
    if is_sidecar(container):
        return False
    words = " ".join(w for w, _ in (*container.command, *container.args))
    if _SERVER_COMMAND.search(words):
        return True
    main = [c for c in workload.containers if c.image is not None and not is_sidecar(c)]
    return len(main) == 1 and any(s.selects(workload) for s in all_services)


# Images and names of containers that run beside the app rather than serve it.
_SIDECAR = re.compile(
    r"envoy|istio|linkerd|proxy|fluent|filebeat|vector|promtail|otel|opentelemetry|"
    r"datadog|vault-agent|cloud-sql|cloudsql|oauth2|jaeger|statsd|exporter|log-?shipper|"
    r"sidecar",
    re.IGNORECASE,
)
_SERVER_COMMAND = re.compile(
    r"\b(uvicorn|gunicorn|hypercorn|waitress-serve|daphne|granian|bentoml|torchserve|"
    r"tritonserver|mlserver|fastapi|flask|streamlit|serve)\b"
)


def is_sidecar(container: Container) -> bool:
    return bool(_SIDECAR.search(f"{container.name} {container.image or ''}"))


def _probes_known_route(container: Container, routes: tuple[Route, ...]) -> bool:
    return any(
        p.path is not None and route_defined(p.path, routes) for p in container.probes.values()
    )


# Objects that mark a file as an add-on or operator bundle rather than this repo's app.
_ADDON_KINDS = frozenset(
    {
        "APIService",
        "CustomResourceDefinition",
        "ClusterServiceVersion",
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
    }
)
_SYSTEM_NAMESPACES = frozenset(
    {"kube-system", "kube-public", "cert-manager", "ingress-nginx", "istio-system", "olm"}
)
_THIRD_PARTY_REGISTRIES = (
    "registry.k8s.io/",
    "k8s.gcr.io/",
    "gcr.io/google-containers/",
    "quay.io/",
    "docker.io/bitnami/",
    "bitnami/",
    "mcr.microsoft.com/",
    "public.ecr.aws/eks",
)


def _addon_files(docs: list[YamlDocument]) -> frozenset[str]:
    found = set()
    for document in docs:
        _, kind = kind_of(document)
        namespace = text(path(document.root, "metadata", "namespace"))
        if kind in _ADDON_KINDS or namespace in _SYSTEM_NAMESPACES:
            found.add(document.relpath)
    return frozenset(found)


def _third_party(workload: Workload, container: Container, addon_files: frozenset[str]) -> bool:
    image = (container.image or "").lower()
    return workload.relpath in addon_files or image.startswith(_THIRD_PARTY_REGISTRIES)
