"""K8S002: liveness and readiness probes that ask the same question."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from infermedic.audit.k8s.loader import documents, source_line
from infermedic.audit.k8s.probes import (
    container_routes,
    is_liveness_path,
    is_readiness_path,
    route_defined,
    services_in,
)
from infermedic.audit.k8s.workloads import Container, Probe, Workload, workloads
from infermedic.audit.project import AuditProject, FileKind, ProjectRule, Route
from infermedic.model import Evidence, EvidenceKind, Finding, Location, Severity


class LivenessEqualsReadiness(ProjectRule):
    """## What it does
    Checks for containers whose liveness and readiness probes are the same check (same
    HTTP path and port, same TCP or gRPC port, or same command), for readiness probes on a
    liveness-style path (`/health`, `/healthz`) when the app defines a readiness route
    (`/ready`), and for liveness probes on a readiness path. The app's routes are those of
    the service the container runs (`uvicorn serving.app:app`); when several services
    exist and the command names none, no service's routes are assumed. Helm chart
    templates are read as rendered with the chart's default values.

    ## Why is this bad?
    The two probes answer different questions. Readiness asks "may I get traffic now?" and
    should fail while the model loads or a dependency is down; liveness asks "is the process
    stuck?" and a failure restarts the container. With one check for both, an overloaded
    or dependency-starved pod is restarted instead of being taken out of rotation: it
    reloads its model, its load moves to the other pods, they fail the same probe, and the
    service collapses in a restart cascade. A readiness probe on a plain liveness endpoint
    sends traffic to pods whose model is not loaded yet.

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
              livenessProbe:
                httpGet: {path: /health, port: 8000}
              readinessProbe:
                httpGet: {path: /health, port: 8000}
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
              livenessProbe:
                httpGet: {path: /health, port: 8000}
              readinessProbe:
                httpGet: {path: /ready, port: 8000}
    ```
    where `/ready` answers 503 until the model is loaded and warmed up.

    ## Known problems
    Different paths served by the same handler look different here; the app's routes are
    known only when the Python index found them.
    """

    code: ClassVar[str] = "K8S002"
    name: ClassVar[str] = "liveness-equals-readiness"
    severity: ClassVar[Severity] = Severity.HIGH
    summary: ClassVar[str] = "Liveness and readiness probes check the same thing"
    fix: ClassVar[str] = (
        "Point readiness at an endpoint that waits for the model (`/ready`) and keep liveness "
        "on a cheap process check (`/health`)"
    )
    risk: ClassVar[str] = "overload or a dependency outage becomes a restart cascade"
    checklist: ClassVar[tuple[str, ...]] = ("D-23",)
    file_kinds: ClassVar[tuple[FileKind, ...]] = (FileKind.YAML,)

    def check(self, project: AuditProject) -> Iterator[Finding]:
        docs = documents(project)
        for workload in workloads(docs):
            for container in workload.containers:
                routes, matched = container_routes(container, project.routes)
                if not matched and services_in(routes) > 1:
                    # which of several services this container runs is unknown: another
                    # service's `/ready` says nothing about this one's
                    routes = ()
                finding = self._check_container(routes, workload, container)
                if finding is not None:
                    probe, message, severity, fix = finding
                    where = f"{workload.relpath}:{probe.line}"
                    yield self.finding(
                        Location(path=workload.relpath, line=probe.line),
                        message,
                        evidence=[
                            Evidence(
                                kind=EvidenceKind.SOURCE,
                                action=where,
                                observed=source_line(docs, workload.relpath, probe.line),
                            )
                        ],
                        severity=severity,
                        fix=fix,
                        fingerprint_key=f"{workload.describe()}/{container.name}",
                    )

    def _check_container(
        self, routes: tuple[Route, ...], workload: Workload, container: Container
    ) -> tuple[Probe, str, Severity, str | None] | None:
        live = container.probes.get("liveness")
        ready = container.probes.get("readiness")
        owner = f"container `{container.name}` of {workload.describe()}"
        if (
            live is not None
            and ready is not None
            and ready.handler is not None
            and live.target(container.ports) == ready.target(container.ports)
        ):
            return (
                ready,
                f"readinessProbe and livenessProbe of {owner} are the same check "
                f"({ready.describe()})",
                Severity.HIGH,
                None,
            )
        if ready is not None and ready.handler == "httpGet" and ready.path is not None:
            readiness_routes = sorted(
                {
                    r.path
                    for r in routes
                    if r.method in ("GET", "HEAD", "*") and is_readiness_path(r.path)
                }
            )
            if is_liveness_path(ready.path) and readiness_routes:
                target = readiness_routes[0]
                return (
                    ready,
                    f"readinessProbe of {owner} uses the liveness endpoint `{ready.path}` "
                    f"although the app defines `{target}`",
                    Severity.MEDIUM,
                    f"Replace `path: {ready.path}` with `path: {target}` in the readinessProbe",
                )
        if (
            live is not None
            and live.handler == "httpGet"
            and live.path is not None
            and is_readiness_path(live.path)
            and (not routes or route_defined(live.path, routes))
        ):
            return (
                live,
                f"livenessProbe of {owner} uses the readiness endpoint `{live.path}`: a slow "
                "model load or a dependency outage restarts the container",
                Severity.MEDIUM,
                "Point the livenessProbe at a cheap process check (`/health`)",
            )
        return None
