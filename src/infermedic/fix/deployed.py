"""The model version a repo's own deployment configuration pins, for SVC007 without a registry.

A service that loads `models:/churn/latest` while its Kubernetes manifest (or compose file,
or Dockerfile) sets `MODEL_VERSION: "3"` for it has been told which version to serve and
does not read it. That configuration is in the repo, so the fix can read it the way the
deployment does: the URI becomes `f"models:/churn/{os.environ.get('MODEL_VERSION', '3')}"`,
the variable the deployment sets, with the version it pins as the default (so a run
without the variable, a test or a laptop, serves that version instead of failing).

Read: container `env:` lists (`- name: X` / `value: "3"`) anywhere in YAML (Kubernetes
manifests, Helm-free), compose `environment:` (a mapping or `X=3` items), Dockerfile `ENV`.
A variable counts when its name ends in `MODEL_VERSION` and its value is a registry version
number. Used only when exactly one such variable is set, to one value, everywhere: two
values (staging and production overlays) are a choice for a person.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from infermedic.fix.base import Refused

_NAME = re.compile(r"^(?:[A-Z0-9]+_)*MODEL_VERSION$")
_VERSION = re.compile(r"^\d+$")
_SKIP = {".git", ".venv", "venv", "node_modules", "__pycache__", "tests", "test"}
_MAX_FILES = 500
_MAX_BYTES = 1_000_000
_ENV_LINE = re.compile(r"^\s*ENV\s+(?P<rest>.+)$", re.IGNORECASE)


@dataclass(frozen=True, kw_only=True, slots=True)
class Pinned:
    """The variable the deployment sets, the version it pins, and where."""

    variable: str
    version: str
    places: tuple[str, ...]


def deployed_version(root: Path) -> Pinned | None:
    """The one `*MODEL_VERSION` the repo's deployment files set; None when none does;
    refused when they set several, or one to several versions."""
    found: dict[tuple[str, str], list[str]] = {}
    for relpath, name, value in _settings(root):
        if _NAME.match(name) and _VERSION.match(value):
            found.setdefault((name, value), []).append(relpath)
    if not found:
        return None
    if len(found) > 1:
        said = "; ".join(
            f"{name}={value} ({', '.join(sorted(set(places)))})"
            for (name, value), places in sorted(found.items())
        )
        raise Refused(
            f"the deployment files pin different model versions ({said}): choose one by hand"
        )
    ((name, value), places) = next(iter(found.items()))
    return Pinned(variable=name, version=value, places=tuple(sorted(set(places))))


def _files(root: Path) -> Iterator[Path]:
    count = 0
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if any(part in _SKIP or part.startswith(".") for part in relative.parts[:-1]):
            continue
        name = path.name.lower()
        wanted = name.endswith((".yaml", ".yml")) or name.startswith("dockerfile")
        if wanted and path.is_file() and path.stat().st_size <= _MAX_BYTES:
            count += 1
            if count > _MAX_FILES:
                return
            yield path


def _settings(root: Path) -> Iterator[tuple[str, str, str]]:
    """(file, variable, value) for each environment variable a deployment file sets."""
    for path in _files(root):
        relpath = path.relative_to(root).as_posix()
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if path.name.lower().startswith("dockerfile"):
            for name, value in _dockerfile_env(text):
                yield relpath, name, value
            continue
        try:
            documents = list(YAML(typ="safe").load_all(text))
        except YAMLError:
            continue  # a template (Helm) or not YAML: not read
        for document in documents:
            for name, value in _yaml_env(document):
                yield relpath, name, value


def _yaml_env(node: Any) -> Iterator[tuple[str, str]]:
    """`env: [{name, value}]` (Kubernetes) and `environment:` (compose) anywhere."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "env" and isinstance(value, list):
                for item in value:
                    named = isinstance(item, dict) and isinstance(item.get("name"), str)
                    if named and isinstance(item.get("value"), str | int):
                        yield item["name"], str(item["value"])
            elif key == "environment" and isinstance(value, dict):
                yield from ((str(k), str(v)) for k, v in value.items() if v is not None)
            elif key == "environment" and isinstance(value, list):
                for item in value:
                    if isinstance(item, str) and "=" in item:
                        name, _, setting = item.partition("=")
                        yield name.strip(), setting.strip()
            else:
                yield from _yaml_env(value)
    elif isinstance(node, list):
        for item in node:
            yield from _yaml_env(item)


def _dockerfile_env(text: str) -> Iterator[tuple[str, str]]:
    """`ENV X=3 Y=4` and `ENV X 3`."""
    for line in text.splitlines():
        match = _ENV_LINE.match(line)
        if match is None:
            continue
        rest = match["rest"].strip()
        if "=" in rest.split()[0]:
            for pair in rest.split():
                name, _, value = pair.partition("=")
                yield name, value.strip("\"'")
        else:
            name, _, value = rest.partition(" ")
            yield name, value.strip().strip("\"'")
