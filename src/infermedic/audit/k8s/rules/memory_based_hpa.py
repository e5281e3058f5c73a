"""K8S001: an autoscaler that scales on memory."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from infermedic.audit.k8s.loader import documents, source_line
from infermedic.audit.k8s.workloads import autoscalers
from infermedic.audit.project import AuditProject, FileKind, ProjectRule
from infermedic.model import Evidence, EvidenceKind, Finding, Location, Severity


class MemoryBasedHpa(ProjectRule):
    """## What it does
    Checks for HorizontalPodAutoscalers (`autoscaling/v2`, `v2beta2`, `v2beta1`) with a
    `Resource` or `ContainerResource` metric on `memory`, and KEDA `ScaledObject`s with a
    `memory` trigger. Helm chart templates are read as `helm template` renders them with
    the chart's default values (by `helm` when it is on PATH, else by a best-effort reader
    of values, helpers and `toYaml`; a note says which).

    ## Why is this bad?
    A model server's memory is mostly the model, loaded once per pod: it is flat under load
    and does not fall when traffic does. A memory target therefore either never triggers
    (scale-up comes too late, requests queue) or, once crossed, never lets the HPA scale
    back down, so the deployment sits at `maxReplicas` and pays for idle pods. When several
    metrics are listed the HPA takes the largest proposal, so a memory metric beside CPU
    still pins the replica count up.

    ## Example
    ```yaml
    apiVersion: autoscaling/v2
    kind: HorizontalPodAutoscaler
    metadata:
      name: churn-api
    spec:
      scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: churn-api}
      minReplicas: 2
      maxReplicas: 10
      metrics:
        - type: Resource
          resource:
            name: memory
            target: {type: Utilization, averageUtilization: 70}
    ```

    Use instead:
    ```yaml
    apiVersion: autoscaling/v2
    kind: HorizontalPodAutoscaler
    metadata:
      name: churn-api
    spec:
      scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: churn-api}
      minReplicas: 2
      maxReplicas: 10
      metrics:
        - type: Resource
          resource:
            name: cpu
            target: {type: Utilization, averageUtilization: 60}
    ```
    or a request-rate / in-flight-requests metric (`Pods` or `External` type).

    ## Known problems
    A memory metric is reasonable for a service whose memory really tracks load (per-request
    buffers, caches that are evicted); suppress the line there.
    """

    code: ClassVar[str] = "K8S001"
    name: ClassVar[str] = "memory-based-hpa"
    severity: ClassVar[Severity] = Severity.MEDIUM
    summary: ClassVar[str] = "The autoscaler scales on memory"
    fix: ClassVar[str] = "Scale on CPU or on request rate / concurrency instead of memory"
    risk: ClassVar[str] = "scale-up too late, or replicas stuck at the maximum"
    checklist: ClassVar[tuple[str, ...]] = ("D-02",)
    file_kinds: ClassVar[tuple[FileKind, ...]] = (FileKind.YAML,)

    def check(self, project: AuditProject) -> Iterator[Finding]:
        docs = documents(project)
        for scaler in autoscalers(docs):
            memory = [m for m in scaler.metrics if m.resource == "memory"]
            for metric in memory:
                only = len(scaler.metrics) == len(memory)
                where = f"{scaler.relpath}:{metric.line}"
                detail = (
                    "its only metric"
                    if only
                    else "beside other metrics, and the HPA follows the largest proposal"
                )
                yield self.finding(
                    Location(path=scaler.relpath, line=metric.line),
                    f"{scaler.kind} `{scaler.name}` scales on memory ({detail}); a model "
                    "server's memory stays flat with load",
                    evidence=[
                        Evidence(
                            kind=EvidenceKind.SOURCE,
                            action=where,
                            observed=source_line(docs, scaler.relpath, metric.line),
                        ),
                        Evidence(
                            kind=EvidenceKind.SOURCE,
                            action=f"{scaler.relpath}:{scaler.line}",
                            observed=scaler.describe(),
                        ),
                    ],
                    severity=Severity.HIGH if only else Severity.MEDIUM,
                    fix=(
                        "Replace `name: memory` with `name: cpu` (or a request-rate metric)"
                        if metric.source != "memory"
                        else "Replace the `memory` trigger with `cpu` or a request-rate trigger"
                    ),
                    fingerprint_key=scaler.name,
                )
