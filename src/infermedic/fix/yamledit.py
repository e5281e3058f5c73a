"""ruamel.yaml round-trip helpers for manifest fixes: comments, key order and quotes survive.

A manifest is edited only when ruamel.yaml reproduces it byte for byte before any change
(with the indentation guessed from a few common styles); otherwise the fix is refused, so a
fix's diff never carries reformatting the user did not ask for.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from infermedic.fix.base import Refused, Workspace
from infermedic.model import Finding

# (mapping, sequence, offset): Kubernetes docs style first, then PyYAML's default, then 4s
_STYLES = ((2, 4, 2), (2, 2, 0), (4, 4, 2), (4, 6, 4), (4, 4, 0))


class Manifest:
    """One YAML file's documents, loaded for a round trip."""

    def __init__(self, workspace: Workspace, relpath: str) -> None:
        self.relpath = relpath
        text = workspace.read(relpath)
        if re.search(r"\{\{-?\s*(if|with|range|include|toYaml|\.Values|\.Release|\$)", text):
            # the audit read a rendering of it; the line may come from values.yaml
            raise Refused(f"{relpath} is a Helm template: change its values or template by hand")
        for mapping, sequence, offset in _STYLES:
            yaml = YAML()
            yaml.preserve_quotes = True
            yaml.width = 4096
            yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
            try:
                docs = list(yaml.load_all(text))
            except YAMLError as exc:
                raise Refused(f"{relpath} does not parse as YAML: {exc}") from exc
            if _dump(yaml, docs) == text:
                self.yaml = yaml
                self.docs = docs
                return
        raise Refused(
            f"ruamel.yaml cannot reproduce {relpath} exactly (unusual indentation or "
            "layout); edit it by hand"
        )

    @classmethod
    def of(cls, finding: Finding, workspace: Workspace) -> tuple[Manifest, int]:
        """The finding's manifest and its line as the workspace has it now (1-based)."""
        loc = finding.location
        if loc.path is None or loc.line is None:
            raise Refused("the finding has no file position")
        return cls(workspace, loc.path), workspace.line(loc.path, loc.line)

    @classmethod
    def container_of(cls, finding: Finding, workspace: Workspace) -> tuple[Manifest, CommentedMap]:
        """The finding's manifest and the container it points at."""
        manifest, line = cls.of(finding, workspace)
        return manifest, manifest.container_at(line)

    def save(self, workspace: Workspace) -> None:
        workspace.write(self.relpath, self.text())

    def text(self) -> str:
        return _dump(self.yaml, self.docs)

    def containers(self) -> Iterator[CommentedMap]:
        """Every container mapping in every document (pods, templates, job templates)."""
        for doc in self.docs:
            yield from _containers(doc)

    def container_at(self, line: int) -> CommentedMap:
        """The container whose first key or one of whose keys is on 1-based `line`."""
        for container in self.containers():
            lines = {container.lc.line} | {container.lc.key(k)[0] for k in container}
            if line - 1 in lines:
                return container
        raise Refused(f"no container found at {self.relpath}:{line}")


def _dump(yaml: YAML, docs: list[Any]) -> str:
    stream = io.StringIO()
    yaml.dump_all(docs, stream)
    return stream.getvalue()


def _containers(node: Any) -> Iterator[CommentedMap]:
    if isinstance(node, CommentedMap):
        for key, value in node.items():
            if key in ("containers", "initContainers") and isinstance(value, CommentedSeq):
                yield from (c for c in value if isinstance(c, CommentedMap) and key == "containers")
            else:
                yield from _containers(value)
    elif isinstance(node, CommentedSeq):
        for item in node:
            yield from _containers(item)


_ROUTE = re.compile(
    r"""(?:\.(?:get|head|route|api_route)\(|Route\(|add_route\(|add_api_route\()\s*["'](/[\w./-]*)["']"""
)
READY_PATHS = ("/ready", "/readyz", "/readiness", "/health/ready")
LIVE_PATHS = ("/health", "/healthz", "/livez", "/live", "/liveness", "/health/live")


def app_routes(root: Path) -> set[str]:
    """Paths the repo's Python code registers as routes (decorators, `Route(...)`)."""
    found: set[str] = set()
    for path in sorted(root.rglob("*.py")):
        if any(part in {".git", ".venv", "venv", "node_modules"} for part in path.parts):
            continue
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        found.update(_ROUTE.findall(text))
    return found


def first_of(routes: set[str], candidates: tuple[str, ...]) -> str | None:
    return next((c for c in candidates if c in routes), None)


def probe_routes(root: Path) -> tuple[str | None, str | None]:
    """The app's readiness route and its liveness route (either None when it has none)."""
    routes = app_routes(root)
    return first_of(routes, READY_PATHS), first_of(routes, LIVE_PATHS)


def new_map(**items: Any) -> CommentedMap:
    result = CommentedMap()
    for key, value in items.items():
        result[key] = value
    return result
