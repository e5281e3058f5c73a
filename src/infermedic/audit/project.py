"""The audited repository as rules see it: its files by kind, and facts gathered across files.

This is the contract between the audit engine and the rules. The engine builds one
`AuditProject` per run; `ProjectRule`s read it, `PythonRule`s also get a per-file context.
"""

from __future__ import annotations

import codecs
import enum
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from infermedic.model import Finding, Notification, NotificationLevel
from infermedic.rules import Rule
from infermedic.settings import Settings


class FileKind(enum.StrEnum):
    """What a discovered file is, which decides the rules that read it."""

    PYTHON = "python"
    DOCKERFILE = "dockerfile"
    YAML = "yaml"  # Kubernetes manifests, Helm output, compose files, alert rules
    REQUIREMENTS = "requirements"  # requirements*.txt, constraints*.txt
    PYPROJECT = "pyproject"  # pyproject.toml, setup.cfg, Pipfile, environment.yml
    PROCFILE = "procfile"  # Procfile, gunicorn.conf.py is PYTHON
    TERRAFORM_STATE = "terraform-state"
    OTHER = "other"


OUTSIDE_TREE = "link points outside the tree: not followed"


def inside(path: Path | str, roots: Iterable[Path]) -> bool:
    """Whether `path`, with every symlink resolved, is one of `roots` or lies under one.

    `roots` must be resolved already (`Path.resolve()`). This is the one test every read of
    the audit makes before it opens a file it did not get from discovery, so that a symlink
    (or a `-r /etc/passwd` include) never makes the audit read outside the tree it was given.
    """
    real = os.path.realpath(path)
    for root in roots:
        text = str(root)
        if real == text or real.startswith(text.rstrip(os.sep) + os.sep):
            return True
    return False


_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: its BOM starts the same way
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def decode_text(data: bytes) -> str:
    """Text decoded by its byte-order mark (Windows tools write UTF-16 files:
    `pip freeze > requirements.txt` in PowerShell), else UTF-8. The BOM is dropped.

    Raises `UnicodeDecodeError` for bytes that are not text in that encoding."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(encoding)
    return data.decode("utf-8")


@dataclass(frozen=True, kw_only=True)
class SourceFile:
    """One discovered file. `relpath` is POSIX-style, relative to the scan root."""

    path: Path
    relpath: str
    kind: FileKind

    def read_text(self) -> str:
        """The file's text; raises `OSError`/`UnicodeDecodeError` (the engine turns those into
        notifications before rules see the file, so rules may call this freely)."""
        return decode_text(self.path.read_bytes())


@dataclass(frozen=True, kw_only=True)
class Route:
    """An HTTP route the service defines, found by the Python index."""

    method: str  # "GET", "POST", or "*" when any
    path: str  # "/predict"
    handler: str  # qualified name of the handler function
    is_async: bool
    file: str  # relpath
    line: int
    # The service the route belongs to: the folder of the app that serves it ("" when no
    # app is found), so file rules judge a manifest against one service's routes.
    service: str = ""
    framework: str = ""  # the index's name for it ("flask", "fastapi"); "" for middleware


@dataclass(kw_only=True)
class AuditProject:
    """Everything the rules may read about the repository being audited."""

    root: Path
    files: tuple[SourceFile, ...]
    settings: Settings = field(default_factory=Settings)
    routes: tuple[Route, ...] = ()  # filled by the Python index before project rules run
    tracked_files: tuple[str, ...] | None = None  # `git ls-files`, None when not a git repo
    # The directories the audit may read in (resolved): the directories given, and the
    # directory of each file given. Empty means `root`.
    roots: tuple[Path, ...] = ()

    # What project rules could not do (a skipped manifest, a templated file); the engine adds
    # these to the report. Filled through `notify()`.
    notifications: list[Notification] = field(default_factory=list)

    def contains(self, path: Path | str) -> bool:
        """Whether reading `path` stays in the audited tree (symlinks resolved)."""
        return inside(path, self.roots or (self.root.resolve(),))

    def files_of(self, *kinds: FileKind) -> Iterator[SourceFile]:
        return (f for f in self.files if f.kind in kinds)

    def notify(
        self,
        message: str,
        *,
        path: str | None = None,
        rule: str | None = None,
        level: NotificationLevel = NotificationLevel.WARNING,
    ) -> None:
        """Record something a rule could not do; a repeat (several rules reading one skipped
        file) is recorded once."""
        note = Notification(level=level, message=message, path=path, rule=rule)
        if note not in self.notifications:
            self.notifications.append(note)


class ProjectRule(Rule):
    """A rule that looks at the project as a whole (Dockerfiles, manifests, dependencies,
    repository hygiene, cross-file facts). Rules raise nothing on purpose: the engine turns
    an exception into a notification naming the rule."""

    file_kinds: ClassVar[tuple[FileKind, ...]] = ()

    def check(self, project: AuditProject) -> Iterator[Finding]:
        raise NotImplementedError
