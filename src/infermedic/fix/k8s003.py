"""K8S003: add the missing probes, on routes the app really registers.

Readiness goes on the readiness route (`/ready`) when the app has one, else on its health
route; liveness goes on the health route when it differs from readiness. The port is the
container's first `containerPort`.
"""

from __future__ import annotations

from ruamel.yaml.comments import CommentedMap

from infermedic.fix.base import Change, Refused, Workspace, slug
from infermedic.fix.yamledit import Manifest, new_map, probe_routes
from infermedic.model import Finding


class AddProbes:
    code = "K8S003"
    title = "add probes on real routes"

    def apply(self, finding: Finding, workspace: Workspace) -> Change:
        manifest, container = Manifest.container_of(finding, workspace)
        ready, live = probe_routes(workspace.root)
        if ready is None and live is None:
            raise Refused("the app registers no health or readiness route to probe")
        port = _port(container)
        added: list[str] = []
        position = _after(container, "ports")
        if "readinessProbe" not in container:
            path = ready or live
            probe = new_map(httpGet=new_map(path=path, port=port), periodSeconds=5)
            container.insert(position, "readinessProbe", probe)
            added.append(f"readinessProbe {path}")
            position += 1
        if "livenessProbe" not in container and live is not None and live != (ready or live):
            probe = new_map(httpGet=new_map(path=live, port=port), periodSeconds=10)
            container.insert(position, "livenessProbe", probe)
            added.append(f"livenessProbe {live}")
        if not added:
            raise Refused("the container already has its probes")
        manifest.save(workspace)
        name = str(container.get("name", "container"))
        return Change(
            code=self.code,
            path=manifest.relpath,
            summary=f"container `{name}`: added " + ", ".join(added),
            review=f"{manifest.relpath}: check the probe periods, and that readiness fails "
            "until the model is loaded"
            + ("" if ready else " (the app has no /ready route: add one)"),
            where=slug(manifest.relpath, name),
            finding=finding,
        )


def _port(container: CommentedMap) -> int | str:
    ports = container.get("ports")
    if isinstance(ports, list) and ports and isinstance(ports[0], dict):
        port = ports[0].get("containerPort")
        if isinstance(port, int | str):
            return port
    raise Refused("the container declares no containerPort for the probes")


def _after(container: CommentedMap, key: str) -> int:
    keys = list(container)
    return keys.index(key) + 1 if key in keys else len(keys)


FIXER = AddProbes()
