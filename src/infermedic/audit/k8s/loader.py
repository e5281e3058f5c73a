"""Load multi-document YAML into PyYAML nodes that keep their line numbers.

Nodes, not Python objects: `compose_all` keeps a `start_mark` on every node, resolves
aliases to shared nodes without expanding them (so an alias bomb costs nothing), and never
constructs tags, so any YAML that parses is safe to read. Helpers here read mappings,
sequences and scalars defensively: a node of the wrong shape reads as absent.
"""

from __future__ import annotations

import codecs
import re
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from infermedic.audit.k8s.helm import chart_of, render_template
from infermedic.audit.project import AuditProject, FileKind, SourceFile, decode_text
from infermedic.model import NotificationLevel

# Bigger files are generated dumps, not manifests anyone reviews line by line.
MAX_BYTES = 5_000_000
_TEMPLATE = re.compile(r"^\s*\{\{-?|:\s+\{\{-?\s")
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True, kw_only=True, slots=True)
class YamlDocument:
    """One document of a YAML file; `root` is None for an empty document."""

    relpath: str
    index: int
    root: yaml.Node | None
    lines: tuple[str, ...] = ()  # the whole file's lines, shared by its documents
    # A Helm template read without helm: template lines where the reader left a block out
    # (an expression it could not evaluate), so the document may lack what they render.
    dropped_lines: tuple[int, ...] = ()

    def source_line(self, line: int) -> str:
        """The stripped text of a 1-based line of the file, for evidence."""
        return self.lines[line - 1].strip() if 0 < line <= len(self.lines) else ""


@dataclass(frozen=True, kw_only=True, slots=True)
class YamlFile:
    """The documents of one file, and why the rest were not read, if they were not."""

    relpath: str
    documents: tuple[YamlDocument, ...]
    skipped: str | None = None  # reason, when the file (or its tail) could not be read
    level: NotificationLevel = NotificationLevel.WARNING
    # How a Helm template was read (with `helm`, or by the best-effort reader), for the
    # chart it belongs to: (chart relpath, message), one notification per chart.
    note: tuple[str, str] | None = None


def line_of(node: yaml.Node) -> int:
    """The 1-based line a node starts on."""
    return int(node.start_mark.line) + 1


def get(node: yaml.Node | None, key: str, *, _depth: int = 0) -> yaml.Node | None:
    """The value under `key` in a mapping node (honouring `<<` merge keys), or None."""
    if not isinstance(node, yaml.MappingNode) or _depth > 8:  # merge cycles end here
        return None
    merged: list[yaml.Node] = []
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            continue
        if key_node.value == key:
            return value_node if isinstance(value_node, yaml.Node) else None
        if key_node.value == "<<":
            merged.extend(
                value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            )
    for source in merged:
        found = get(source, key, _depth=_depth + 1)
        if found is not None:
            return found
    return None


def key_line(node: yaml.Node | None, key: str) -> int | None:
    """The line of `key` itself in a mapping node (where a reader sees `key:`)."""
    if isinstance(node, yaml.MappingNode):
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
                return line_of(key_node)
    return None


def path(node: yaml.Node | None, *keys: str) -> yaml.Node | None:
    for key in keys:
        node = get(node, key)
    return node


def text(node: yaml.Node | None) -> str | None:
    """A scalar's text (numbers and booleans as written), or None for anything else."""
    return str(node.value) if isinstance(node, yaml.ScalarNode) else None


def items(node: yaml.Node | None) -> list[yaml.Node]:
    """A sequence's items, or nothing."""
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def pairs(node: yaml.Node | None) -> Iterator[tuple[str, yaml.Node]]:
    """A mapping's (scalar key, value) pairs, or nothing."""
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                yield str(key_node.value), value_node


def load_yaml_file(file: SourceFile, root: Path | None = None) -> YamlFile:
    """Read one YAML file into documents; never raises."""
    try:
        stat = file.path.stat()
    except OSError as exc:
        return YamlFile(relpath=file.relpath, documents=(), skipped=f"cannot read: {exc}")
    if stat.st_size > MAX_BYTES:
        reason = f"skipped: {stat.st_size} bytes is more than the {MAX_BYTES} read for manifests"
        return YamlFile(relpath=file.relpath, documents=(), skipped=reason)
    return _load(file.path, file.relpath)


def yaml_files(project: AuditProject) -> Iterator[YamlFile]:
    """Every YAML file of the project, read once per run; skipped files become notifications."""
    for file in project.files_of(FileKind.YAML):
        loaded = load_yaml_file(file)
        if loaded.skipped is not None:
            project.notify(loaded.skipped, path=file.relpath, level=loaded.level)
        if loaded.note is not None:
            project.notify(loaded.note[1], path=loaded.note[0], level=NotificationLevel.NOTE)
        yield loaded


# Parsed documents per live project: the DKR and K8S rules all read the same manifests in a
# run. Keyed by identity (projects are mutable, so unhashable) and dropped with the project.
_PROJECT_DOCUMENTS: dict[int, list[YamlDocument]] = {}


def documents(project: AuditProject) -> list[YamlDocument]:
    """The non-empty documents of every YAML file, parsed once per project."""
    key = id(project)
    cached = _PROJECT_DOCUMENTS.get(key)
    if cached is None:
        cached = [d for f in yaml_files(project) for d in f.documents if d.root is not None]
        _PROJECT_DOCUMENTS[key] = cached
        weakref.finalize(project, _PROJECT_DOCUMENTS.pop, key, None)
    return cached


def parse_yaml_text(source: str, relpath: str, *, in_chart: bool = False) -> YamlFile:
    """Compose every document of `source`; the documents before a syntax error are kept."""
    looks_templated = any(_TEMPLATE.search(line) for line in source.splitlines())
    if looks_templated and in_chart:
        return _template_skip(relpath)
    composed: list[YamlDocument] = []
    lines = tuple(source.splitlines())
    try:
        for index, root in enumerate(yaml.compose_all(source, Loader=_Loader)):
            composed.append(YamlDocument(relpath=relpath, index=index, root=root, lines=lines))
    except yaml.YAMLError as exc:
        if looks_templated:
            return _template_skip(relpath)
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        kept = f"; read the {len(composed)} document(s) before it" if composed else ""
        reason = f"invalid YAML{where}: {problem}{kept}"
        return YamlFile(relpath=relpath, documents=tuple(composed), skipped=reason)
    return YamlFile(relpath=relpath, documents=tuple(composed))


def _load(file_path: Path, relpath: str) -> YamlFile:
    try:
        raw = file_path.read_bytes()
    except OSError as exc:
        return YamlFile(relpath=relpath, documents=(), skipped=f"cannot read: {exc}")
    utf16 = raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    if b"\x00" in raw[:8192] and not utf16:  # UTF-16 text holds NULs; binary has no BOM
        return YamlFile(relpath=relpath, documents=(), skipped="skipped: binary content")
    try:
        source = decode_text(raw)
    except UnicodeDecodeError as exc:
        return YamlFile(relpath=relpath, documents=(), skipped=f"skipped: not UTF-8 ({exc.reason})")
    chart = chart_of(file_path, relpath)
    if chart is not None and any(_TEMPLATE.search(line) for line in source.splitlines()):
        return _chart_template(file_path, relpath, source, *chart)
    return parse_yaml_text(source, relpath)


def _chart_template(
    file_path: Path, relpath: str, source: str, chart_dir: Path, chart_relpath: str
) -> YamlFile:
    """A chart's template, rendered; its documents' lines are the template's lines."""
    rendered, note = render_template(file_path, chart_dir, chart_relpath)
    noted = (chart_relpath, note)
    if rendered.text is None:
        reason = rendered.skipped or "skipped: could not be rendered"
        return YamlFile(relpath=relpath, documents=(), skipped=reason, note=noted)
    lines = tuple(source.splitlines())
    composed: list[YamlDocument] = []
    try:
        roots = list(yaml.compose_all(rendered.text, Loader=_Loader))
        for root in roots:
            if root is not None:
                _remap(root, rendered.source_lines, set())
        starts = [line_of(r) if r is not None else 0 for r in roots]
        for index, root in enumerate(roots):
            end = next((s for s in starts[index + 1 :] if s > starts[index]), len(lines) + 1)
            dropped = tuple(d for d in rendered.dropped_lines if starts[index] <= d < end)
            composed.append(
                YamlDocument(
                    relpath=relpath, index=index, root=root, lines=lines, dropped_lines=dropped
                )
            )
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = ""
        if mark is not None and 0 <= mark.line < len(rendered.source_lines):
            where = f" near template line {rendered.source_lines[mark.line]}"
        reason = f"skipped: the rendered Helm template is not valid YAML{where}"
        return YamlFile(relpath=relpath, documents=tuple(composed), skipped=reason, note=noted)
    return YamlFile(relpath=relpath, documents=tuple(composed), note=noted)


def _remap(node: yaml.Node, source_lines: tuple[int, ...], seen: set[int]) -> None:
    """Point every node at the template line its rendered line came from."""
    if id(node) in seen:
        return  # an alias shares its node
    seen.add(id(node))
    line = int(node.start_mark.line)
    mapped = source_lines[line] if 0 <= line < len(source_lines) else line + 1
    node.start_mark = yaml.error.Mark("", 0, mapped - 1, int(node.start_mark.column), None, 0)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            _remap(key, source_lines, seen)
            _remap(value, source_lines, seen)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _remap(item, source_lines, seen)


def _template_skip(relpath: str) -> YamlFile:
    return YamlFile(
        relpath=relpath,
        documents=(),
        skipped="skipped: a Helm/Go template (`{{ }}`), not plain YAML; "
        "audit the output of `helm template` instead",
        level=NotificationLevel.NOTE,
    )


def source_line(docs: list[YamlDocument], relpath: str, line: int) -> str:
    """The stripped text of `relpath`'s 1-based `line`, for evidence."""
    document = next((d for d in docs if d.relpath == relpath), None)
    return document.source_line(line) if document is not None else ""
