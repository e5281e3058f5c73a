"""K8S001: scale a model server on CPU, not memory.

The HorizontalPodAutoscaler's `Resource` metric `memory` becomes `cpu`, keeping its
utilisation target; an absolute memory target (`AverageValue`) has no CPU equivalent and is
refused.
"""

from __future__ import annotations

from ruamel.yaml.comments import CommentedMap

from infermedic.fix.base import Change, Refused, Workspace, slug
from infermedic.fix.yamledit import Manifest
from infermedic.model import Finding


class CpuMetric:
    code = "K8S001"
    title = "scale on CPU instead of memory"

    def apply(self, finding: Finding, workspace: Workspace) -> Change:
        manifest, line = Manifest.of(finding, workspace)
        line -= 1
        for doc in manifest.docs:
            if not isinstance(doc, CommentedMap) or doc.get("kind") != "HorizontalPodAutoscaler":
                continue
            for metric in doc.get("spec", {}).get("metrics", []) or []:
                resource = metric.get("resource") if isinstance(metric, CommentedMap) else None
                if not isinstance(resource, CommentedMap) or "name" not in resource:
                    continue
                if resource.lc.key("name")[0] != line or resource["name"] != "memory":
                    continue
                target = resource.get("target")
                if isinstance(target, CommentedMap) and target.get("type") != "Utilization":
                    raise Refused("the memory target is an absolute value; pick a CPU target")
                resource["name"] = "cpu"
                manifest.save(workspace)
                name = str(doc.get("metadata", {}).get("name", "hpa"))
                return Change(
                    code=self.code,
                    path=manifest.relpath,
                    summary=f"HorizontalPodAutoscaler `{name}` scales on cpu",
                    review=f"{manifest.relpath}: check the utilisation target suits CPU, and that "
                    "the pods set CPU requests (utilisation is relative to them)",
                    where=slug(manifest.relpath, name),
                    finding=finding,
                )
        raise Refused(f"no memory metric found at {manifest.relpath}:{line + 1}")


FIXER = CpuMetric()
