"""Helm chart templates as manifests: rendered by `helm template` when `helm` is on PATH,
else by infermedic's own best-effort reader (`gotemplate.py`) from the chart's values.

Either way each rendered line keeps the template line it came from, so findings point at
the template a reader edits, and the chart gets one notification that says how it was read.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from infermedic.audit.k8s.gotemplate import Renderer, TemplateError

_MAX_BYTES = 1_000_000  # a values file or template bigger than this is not a chart's own
_HELM_TIMEOUT_S = 60
_RELEASE = {"Name": "release", "Namespace": "default", "Service": "Helm", "Revision": 1}
_RELEASE |= {"IsInstall": True, "IsUpgrade": False}
_SOURCE = re.compile(r"^# Source: (?P<path>\S+)\s*$", re.MULTILINE)


@dataclass(frozen=True, kw_only=True, slots=True)
class RenderedTemplate:
    """One template of a chart as YAML text, or why it could not be rendered."""

    text: str | None
    source_lines: tuple[int, ...] = ()  # per rendered line, the template's 1-based line
    skipped: str | None = None
    dropped_lines: tuple[int, ...] = ()  # template lines whose block the reader left out


@dataclass(frozen=True, kw_only=True, slots=True)
class RenderedChart:
    templates: dict[str, RenderedTemplate]  # by path relative to the chart directory
    note: str  # how the chart was read, for the one notification the chart gets


def chart_of(path: Path, relpath: str) -> tuple[Path, str] | None:
    """The chart directory holding a template (`chart/templates/x.yaml`) and its relpath."""
    parts = Path(relpath).parts
    if "templates" not in parts[:-1]:
        return None
    index = len(parts) - 1 - parts[::-1].index("templates")  # the innermost `templates/`
    chart_dir = path.parents[len(parts) - 1 - index]
    if not ((chart_dir / "Chart.yaml").is_file() or (chart_dir / "Chart.yml").is_file()):
        return None
    return chart_dir, "/".join(parts[:index]) or "."


def render_template(
    path: Path, chart_dir: Path, chart_relpath: str
) -> tuple[RenderedTemplate, str]:
    """The rendering of the template at `path`, and the chart's notification."""
    chart = _render_chart(str(chart_dir), chart_relpath, _stamp(chart_dir))
    key = path.relative_to(chart_dir).as_posix()
    found = chart.templates.get(key, RenderedTemplate(text=""))
    return found, chart.note


def _stamp(chart_dir: Path) -> tuple[tuple[str, int], ...]:
    """Modification times of the chart's files: a changed chart is rendered again."""
    stamps = []
    for file in sorted(_chart_files(chart_dir)):
        try:
            stamps.append((str(file), file.stat().st_mtime_ns))
        except OSError:
            continue
    return tuple(stamps)


def _chart_files(chart_dir: Path) -> list[Path]:
    found = [chart_dir / name for name in ("Chart.yaml", "Chart.yml", "values.yaml", "values.yml")]
    templates = chart_dir / "templates"
    if templates.is_dir():
        found += [p for p in templates.rglob("*") if p.suffix in {".yaml", ".yml", ".tpl"}]
    return [p for p in found if p.is_file() and _inside(p, chart_dir)]


def _inside(path: Path, chart_dir: Path) -> bool:
    """Never read through a link out of the chart."""
    real, top = os.path.realpath(path), os.path.realpath(chart_dir)
    return real.startswith(top.rstrip(os.sep) + os.sep)


@lru_cache(maxsize=16)
def _render_chart(chart_dir: str, chart_relpath: str, _stamp: object) -> RenderedChart:
    helm = shutil.which("helm")
    if helm is not None:
        rendered, problem = _with_helm(helm, Path(chart_dir))
        if rendered is not None:
            note = f"Helm chart `{chart_relpath}` rendered with `helm template` (default values)"
            return RenderedChart(templates=rendered, note=note)
        reason = f"`helm template` failed ({problem})"
    else:
        reason = "`helm` is not on PATH"
    templates, unknown = _without_helm(Path(chart_dir))
    left_out = ""
    if unknown:
        examples = ", ".join(f"`{u[:60]}`" for u in sorted(set(unknown))[:3])
        left_out = (
            f"; {len(unknown)} expression(s) it could not evaluate were left out ({examples})"
        )
    note = (
        f"Helm templates read without helm: {reason}; chart `{chart_relpath}` was rendered "
        f"by infermedic's best-effort template reader from its values.yaml defaults{left_out}. "
        "Install helm for an exact rendering"
    )
    return RenderedChart(templates=templates, note=note)


def _read(path: Path) -> str | None:
    try:
        if path.stat().st_size > _MAX_BYTES:
            return None
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _context(chart_dir: Path) -> dict[str, Any]:
    """`.Chart`, `.Values` and `.Release` as a default `helm template` would see them."""
    meta: dict[str, Any] = {}
    values: dict[str, Any] = {}
    for name in ("Chart.yaml", "Chart.yml"):
        text = _read(chart_dir / name)
        loaded = _safe_load(text) if text is not None else None
        if isinstance(loaded, dict):
            # `.Chart.AppVersion` from `appVersion`: Helm capitalises the first letter
            meta = {str(k)[:1].upper() + str(k)[1:]: v for k, v in loaded.items()}
            break
    for name in ("values.yaml", "values.yml"):
        path = chart_dir / name
        text = _read(path) if _inside(path, chart_dir) else None
        loaded = _safe_load(text) if text is not None else None
        if isinstance(loaded, dict):
            values = loaded
            break
    name = str(meta.get("Name", chart_dir.name))
    return {
        "Values": values,
        "Chart": meta,
        "Release": dict(_RELEASE),
        "Template": {"BasePath": f"{name}/templates"},
    }


def _safe_load(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return None


def _without_helm(chart_dir: Path) -> tuple[dict[str, RenderedTemplate], list[str]]:
    sources: dict[str, str] = {}
    helpers: dict[str, list[Any]] = {}
    trees: dict[str, list[Any]] = {}
    failed: dict[str, str] = {}
    for path in sorted(_chart_files(chart_dir)):
        if path.parent == chart_dir:
            continue  # Chart.yaml, values.yaml
        relpath = path.relative_to(chart_dir).as_posix()
        text = _read(path)
        if text is None:
            failed[relpath] = "skipped: cannot read the template"
            continue
        try:
            tree, defines = Renderer.parse(text)
        except TemplateError as exc:
            failed[relpath] = f"skipped: a Helm template this reader cannot parse ({exc})"
            continue
        helpers.update(defines)
        if path.suffix != ".tpl":
            sources[relpath] = text
            trees[relpath] = tree
    renderer = Renderer(_context(chart_dir), helpers)
    rendered: dict[str, RenderedTemplate] = {
        relpath: RenderedTemplate(text=None, skipped=reason) for relpath, reason in failed.items()
    }
    for relpath, tree in trees.items():
        try:
            output = renderer.render(tree)
        except TemplateError as exc:
            rendered[relpath] = RenderedTemplate(text=None, skipped=f"skipped: {exc}")
            continue
        rendered[relpath] = RenderedTemplate(
            text=output.text,
            source_lines=output.source_lines,
            dropped_lines=output.dropped_lines,
        )
    return rendered, renderer.unknown


def _with_helm(helm: str, chart_dir: Path) -> tuple[dict[str, RenderedTemplate] | None, str]:
    """`helm template` output split back into its templates (`# Source:` headers)."""
    try:
        done = subprocess.run(  # noqa: S603 - a fixed argument list, no shell
            [helm, "template", "infermedic", str(chart_dir)],
            capture_output=True,
            text=True,
            timeout=_HELM_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, type(exc).__name__
    if done.returncode != 0:
        first = (done.stderr.strip().splitlines() or ["no message"])[0]
        return None, first[:200]
    name = str(_context(chart_dir)["Chart"].get("Name", chart_dir.name))
    pieces: dict[str, list[str]] = {}
    for document in re.split(r"(?m)^---\s*$", done.stdout):
        source = _SOURCE.search(document)
        if source is None:
            continue
        template = source.group("path").removeprefix(f"{name}/")
        if template.startswith("charts/"):
            continue  # a subchart's own templates are read from its own directory
        pieces.setdefault(template, []).append(document.strip("\n"))
    rendered: dict[str, RenderedTemplate] = {}
    for template, documents in pieces.items():
        text = "\n---\n".join(documents) + "\n"
        original = _read(chart_dir / template) or ""
        rendered[template] = RenderedTemplate(text=text, source_lines=_match_lines(text, original))
    return rendered, ""


def _match_lines(rendered: str, template: str) -> tuple[int, ...]:
    """For each rendered line, the template line with the same text (searched forward from
    the last match), else the last matched line: helm's output carries no line numbers."""
    lines = [line.strip() for line in template.splitlines()]
    found: list[int] = []
    cursor = 0
    for line in rendered.split("\n"):
        wanted = line.strip()
        match = next((i for i in range(cursor, len(lines)) if wanted and lines[i] == wanted), None)
        if match is not None:
            cursor = match
        found.append(cursor + 1)
    return tuple(found)
