"""K8S002: liveness on the cheap `/health`, readiness on the model-gated `/ready`.

Only routes the app really registers are used; without a readiness route the fix is
refused (add one first: it must fail until the model is loaded and warmed).
"""

from __future__ import annotations

from ruamel.yaml.comments import CommentedMap

from infermedic.fix.base import Change, Refused, Workspace, slug
from infermedic.fix.yamledit import READY_PATHS, Manifest, probe_routes
from infermedic.model import Finding


class SplitProbes:
    code = "K8S002"
    title = "split liveness (/health) from readiness (/ready)"

    def apply(self, finding: Finding, workspace: Workspace) -> Change:
        manifest, container = Manifest.container_of(finding, workspace)
        ready, live = probe_routes(workspace.root)
        if ready is None:
            raise Refused("the app registers no readiness route (`/ready`); add one first")
        done: list[str] = []
        readiness = _http(container, "readinessProbe")
        if readiness.get("path") != ready:
            readiness["path"] = ready
            done.append(f"readinessProbe → {ready}")
        if "livenessProbe" in container:
            liveness = _http(container, "livenessProbe")
            if liveness.get("path") in (ready, None) or liveness.get("path") in READY_PATHS:
                if live is None:
                    raise Refused("the app registers no liveness route (`/health`) to move to")
                liveness["path"] = live
                done.append(f"livenessProbe → {live}")
        if not done:
            raise Refused("the probes already point at the readiness and liveness routes")
        manifest.save(workspace)
        name = str(container.get("name", "container"))
        return Change(
            code=self.code,
            path=manifest.relpath,
            summary=f"container `{name}`: " + ", ".join(done),
            review=f"{manifest.relpath}: `{ready}` must fail until the model is loaded and warm; "
            f"liveness must stay a cheap check that never waits on the model",
            where=slug(manifest.relpath, name),
            finding=finding,
        )


def _http(container: CommentedMap, key: str) -> CommentedMap:
    probe = container.get(key)
    get = probe.get("httpGet") if isinstance(probe, CommentedMap) else None
    if not isinstance(get, CommentedMap):
        raise Refused(f"the {key} is not an HTTP check; change it by hand")
    return get


FIXER = SplitProbes()
