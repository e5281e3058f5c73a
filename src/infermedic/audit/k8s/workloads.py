"""Typed views of Kubernetes objects (workloads, containers, probes, autoscalers, services).

Views are built from composed YAML nodes, keep the lines rules point at, and tolerate any
shape: a field of the wrong type reads as absent rather than raising.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import yaml

from infermedic.audit.k8s.loader import (
    YamlDocument,
    get,
    items,
    key_line,
    line_of,
    pairs,
    path,
    text,
)

# Where the pod spec sits in each workload kind.
_POD_SPEC: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Rollout": ("spec", "template", "spec"),  # Argo Rollouts
    "DeploymentConfig": ("spec", "template", "spec"),  # OpenShift
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
# Kinds whose pods serve traffic for as long as they run (Jobs run to completion).
SERVING_KINDS = frozenset(_POD_SPEC) - {"Job", "CronJob"}
PROBE_KINDS = ("liveness", "readiness", "startup")


@dataclass(frozen=True, kw_only=True, slots=True)
class Probe:
    """One probe of a container, with its handler normalised for comparison."""

    kind: str  # liveness | readiness | startup
    line: int  # the `readinessProbe:` key
    handler: str | None  # httpGet | tcpSocket | exec | grpc
    path: str | None = None
    port: str | None = None  # as written: "8000" or a port name
    command: tuple[str, ...] = ()
    path_line: int | None = None

    def target(self, ports: dict[str, str]) -> tuple[str | None, ...]:
        """What the probe asks, with named ports resolved through the container's ports."""
        port = ports.get(self.port, self.port) if self.port is not None else None
        return (self.handler, self.path, port, *self.command)

    def describe(self) -> str:
        if self.handler == "httpGet":
            return f"GET {self.path or '/'} on port {self.port}"
        if self.handler == "exec":
            return "exec " + " ".join(self.command)
        return f"{self.handler} on port {self.port}"


@dataclass(frozen=True, kw_only=True, slots=True)
class Container:
    name: str
    line: int  # the container's first line (`- name: api`)
    image: str | None
    command: tuple[tuple[str, int], ...]  # (word, line)
    args: tuple[tuple[str, int], ...]
    ports: dict[str, str]  # port name -> number; numbers map to themselves
    env: tuple[tuple[str, str, int], ...]  # (name, literal value, line); valueFrom skipped
    probes: dict[str, Probe]

    @property
    def serves_ports(self) -> bool:
        return bool(self.ports)


@dataclass(frozen=True, kw_only=True, slots=True)
class Workload:
    relpath: str
    kind: str
    name: str
    line: int  # the `kind:` line
    labels: dict[str, str]  # the pod template's labels
    containers: tuple[Container, ...]
    hook: str | None = None  # `helm.sh/hook`: a test or install job, not a serving pod
    dropped_lines: tuple[int, ...] = ()  # Helm template lines the reader left out

    def describe(self) -> str:
        return f"{self.kind} {self.name}"


@dataclass(frozen=True, kw_only=True, slots=True)
class ScalingMetric:
    source: str  # "Resource", "ContainerResource", "Pods", "External", KEDA trigger type
    resource: str | None  # "cpu" | "memory" for resource metrics
    line: int


@dataclass(frozen=True, kw_only=True, slots=True)
class Autoscaler:
    """A HorizontalPodAutoscaler or a KEDA ScaledObject."""

    relpath: str
    kind: str
    name: str
    line: int
    target_kind: str | None
    target_name: str | None
    metrics: tuple[ScalingMetric, ...]

    def describe(self) -> str:
        return f"{self.relpath}:{self.line} defines {self.kind} {self.name}"

    def targets(self, workload: Workload) -> bool:
        return self.target_name == workload.name and (self.target_kind in (None, workload.kind))


@dataclass(frozen=True, kw_only=True, slots=True)
class Service:
    relpath: str
    name: str
    selector: dict[str, str]

    def selects(self, workload: Workload) -> bool:
        return bool(self.selector) and all(
            workload.labels.get(k) == v for k, v in self.selector.items()
        )


def kind_of(document: YamlDocument) -> tuple[str | None, str | None]:
    """The (apiVersion, kind) of a document, when it looks like a Kubernetes object."""
    return text(get(document.root, "apiVersion")), text(get(document.root, "kind"))


def _name(document: YamlDocument) -> str:
    return text(path(document.root, "metadata", "name")) or "<unnamed>"


def _kind_line(document: YamlDocument) -> int:
    assert document.root is not None
    return key_line(document.root, "kind") or line_of(document.root)


def workloads(docs: Iterator[YamlDocument] | list[YamlDocument]) -> Iterator[Workload]:
    for document in docs:
        api_version, kind = kind_of(document)
        if kind is None or api_version is None:
            continue
        spec_path = _POD_SPEC.get(kind)
        if kind == "Service" and api_version.startswith("serving.knative.dev"):
            spec_path = ("spec", "template", "spec")
            kind = "KnativeService"
        if spec_path is None:
            continue
        pod_spec = path(document.root, *spec_path)
        if not isinstance(pod_spec, yaml.MappingNode):
            continue
        labels_node = (
            path(document.root, "metadata", "labels")
            if kind == "Pod"
            else path(document.root, *spec_path[:-1], "metadata", "labels")
        )
        yield Workload(
            relpath=document.relpath,
            kind=kind,
            name=_name(document),
            line=_kind_line(document),
            labels={k: v for k, node in pairs(labels_node) if (v := text(node)) is not None},
            containers=tuple(_container(node) for node in items(get(pod_spec, "containers"))),
            hook=text(path(document.root, "metadata", "annotations", "helm.sh/hook")),
            dropped_lines=document.dropped_lines,
        )


def _words(node: yaml.Node | None) -> tuple[tuple[str, int], ...]:
    return tuple(
        (value, line_of(item)) for item in items(node) if (value := text(item)) is not None
    )


def _container(node: yaml.Node) -> Container:
    ports: dict[str, str] = {}
    for port in items(get(node, "ports")):
        number = text(get(port, "containerPort"))
        if number is None:
            continue
        ports[number] = number
        if (port_name := text(get(port, "name"))) is not None:
            ports[port_name] = number
    env = tuple(
        (name, value, line_of(item))
        for item in items(get(node, "env"))
        if (name := text(get(item, "name"))) is not None
        and (value := text(get(item, "value"))) is not None
    )
    probes = {kind: probe for kind in PROBE_KINDS if (probe := _probe(node, kind)) is not None}
    return Container(
        name=text(get(node, "name")) or "<unnamed>",
        line=line_of(node),
        image=text(get(node, "image")),
        command=_words(get(node, "command")),
        args=_words(get(node, "args")),
        ports=ports,
        env=env,
        probes=probes,
    )


def _probe(container: yaml.Node, kind: str) -> Probe | None:
    key = f"{kind}Probe"
    node = get(container, key)
    line = key_line(container, key)
    if not isinstance(node, yaml.MappingNode) or line is None:
        return None
    http = get(node, "httpGet")
    if http is not None:
        path_node = get(http, "path")
        return Probe(
            kind=kind,
            line=line,
            handler="httpGet",
            path=text(path_node) or "/",
            port=text(get(http, "port")),
            path_line=line_of(path_node) if path_node is not None else None,
        )
    for handler in ("tcpSocket", "grpc"):
        found = get(node, handler)
        if found is not None:
            return Probe(kind=kind, line=line, handler=handler, port=text(get(found, "port")))
    exec_node = get(node, "exec")
    if exec_node is not None:
        command = tuple(word for word, _ in _words(get(exec_node, "command")))
        return Probe(kind=kind, line=line, handler="exec", command=command)
    return Probe(kind=kind, line=line, handler=None)


def autoscalers(docs: Iterator[YamlDocument] | list[YamlDocument]) -> Iterator[Autoscaler]:
    for document in docs:
        api_version, kind = kind_of(document)
        if api_version is None:
            continue
        if kind == "HorizontalPodAutoscaler" and api_version.startswith("autoscaling/"):
            ref = path(document.root, "spec", "scaleTargetRef")
            metrics = tuple(_hpa_metric(m) for m in items(path(document.root, "spec", "metrics")))
            cpu_v1 = path(document.root, "spec", "targetCPUUtilizationPercentage")
            if cpu_v1 is not None:
                metrics += (ScalingMetric(source="Resource", resource="cpu", line=line_of(cpu_v1)),)
        elif kind == "ScaledObject" and api_version.startswith("keda.sh/"):
            ref = path(document.root, "spec", "scaleTargetRef")
            metrics = tuple(
                ScalingMetric(
                    source=text(get(t, "type")) or "",
                    resource=text(get(t, "type"))
                    if text(get(t, "type")) in ("cpu", "memory")
                    else None,
                    line=line_of(get(t, "type") or t),
                )
                for t in items(path(document.root, "spec", "triggers"))
            )
        else:
            continue
        yield Autoscaler(
            relpath=document.relpath,
            kind=kind,
            name=_name(document),
            line=_kind_line(document),
            # KEDA's scaleTargetRef.kind defaults to Deployment; HPA's is required.
            target_kind=text(get(ref, "kind"))
            or ("Deployment" if kind == "ScaledObject" else None),
            target_name=text(get(ref, "name")),
            metrics=metrics,
        )


def _hpa_metric(node: yaml.Node) -> ScalingMetric:
    source = text(get(node, "type")) or ""
    resource_node = None
    if source in ("Resource", "ContainerResource"):
        block = get(node, "resource" if source == "Resource" else "containerResource")
        resource_node = get(block, "name")
    return ScalingMetric(
        source=source,
        resource=text(resource_node),
        line=line_of(resource_node if resource_node is not None else node),
    )


def services(docs: Iterator[YamlDocument] | list[YamlDocument]) -> Iterator[Service]:
    for document in docs:
        api_version, kind = kind_of(document)
        if kind != "Service" or api_version != "v1":
            continue
        selector = path(document.root, "spec", "selector")
        yield Service(
            relpath=document.relpath,
            name=_name(document),
            selector={k: v for k, node in pairs(selector) if (v := text(node)) is not None},
        )
