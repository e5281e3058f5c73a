"""Finding the files to audit: walk the paths, skip environments and caches, classify files."""

from __future__ import annotations

import fnmatch
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from infermedic.audit.project import FileKind, SourceFile
from infermedic.errors import InputError
from infermedic.model import Notification, NotificationLevel

# Directories that hold other people's code or generated files, never the service's own.
SKIPPED_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".venv",
        "venv",
        ".env",
        "env",
        "node_modules",
        "__pycache__",
        "site-packages",
        "dist-packages",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
        ".eggs",
        ".ipynb_checkpoints",
        ".terraform",
        ".idea",
        ".vscode",
    }
)
DEFAULT_MAX_FILE_BYTES = 2_000_000  # larger text files are generated or data, not code


@dataclass(frozen=True, kw_only=True)
class Discovery:
    """What a walk found: the scan root, the files by kind, and what it skipped, with why."""

    root: Path
    files: tuple[SourceFile, ...]
    notifications: tuple[Notification, ...]
    tracked_files: tuple[str, ...] | None


def classify(name: str) -> FileKind:
    """The kind of a file from its name alone."""
    lower = name.lower()
    if lower.endswith(".py") or lower.endswith(".pyi"):
        return FileKind.PYTHON
    if lower.startswith(("dockerfile", "containerfile")) or lower.endswith(".dockerfile"):
        return FileKind.DOCKERFILE
    if lower in {"pyproject.toml", "setup.cfg", "pipfile", "environment.yml", "environment.yaml"}:
        return FileKind.PYPROJECT
    if lower.endswith((".yaml", ".yml")):
        return FileKind.YAML
    if lower.endswith((".txt", ".in")) and ("requirement" in lower or "constraint" in lower):
        return FileKind.REQUIREMENTS
    if lower == "procfile" or lower.endswith(".procfile"):
        return FileKind.PROCFILE
    if lower.endswith((".tfstate", ".tfstate.backup")):
        return FileKind.TERRAFORM_STATE
    return FileKind.OTHER


def discover(
    paths: list[Path],
    *,
    exclude: tuple[str, ...] = (),
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> Discovery:
    """Walk `paths` (files or directories). Raises `InputError` for a path that does not exist."""
    if not paths:
        raise InputError("no path to audit", hint="give a directory, e.g. `infermedic audit .`")
    resolved: list[Path] = []
    for path in paths:
        if not path.exists():
            raise InputError(
                f"path {path} does not exist",
                hint="check the spelling, or run from the repository root",
            )
        resolved.append(path.resolve())
    root = _common_root(resolved)
    notes: list[Notification] = []
    found: dict[str, SourceFile] = {}
    for path in resolved:
        if path.is_file():
            _add(path, root, found, notes, exclude, max_file_bytes, explicit=True)
            continue
        seen_dirs: set[tuple[int, int]] = set()
        for directory, subdirs, names in os.walk(path, followlinks=True):
            here = Path(directory)
            stat = here.stat()
            if (stat.st_dev, stat.st_ino) in seen_dirs:  # a symlink loop
                notes.append(
                    Notification(
                        level=NotificationLevel.WARNING,
                        message="skipped a directory already visited (symlink loop)",
                        path=_rel(here, root),
                    )
                )
                subdirs[:] = []
                continue
            seen_dirs.add((stat.st_dev, stat.st_ino))
            subdirs[:] = sorted(
                d
                for d in subdirs
                if d not in SKIPPED_DIRS
                and not d.endswith(".egg-info")
                and not _excluded(_rel(here / d, root), exclude)
            )
            for name in sorted(names):
                _add(here / name, root, found, notes, exclude, max_file_bytes, explicit=False)
    if not found:
        notes.append(
            Notification(
                level=NotificationLevel.NOTE, message="no files to audit under the given path(s)"
            )
        )
    return Discovery(
        root=root,
        files=tuple(found[k] for k in sorted(found)),
        notifications=tuple(notes),
        tracked_files=git_tracked_files(root),
    )


def _add(
    path: Path,
    root: Path,
    found: dict[str, SourceFile],
    notes: list[Notification],
    exclude: tuple[str, ...],
    max_file_bytes: int,
    *,
    explicit: bool,
) -> None:
    relpath = _rel(path, root)
    if relpath in found or (not explicit and _excluded(relpath, exclude)):
        return
    kind = classify(path.name)
    try:
        if not path.is_file():
            return  # sockets, fifos, broken links
        size = path.stat().st_size
    except OSError as exc:
        notes.append(
            Notification(
                level=NotificationLevel.WARNING,
                message=f"cannot read file: {exc.strerror}",
                path=relpath,
            )
        )
        return
    if (
        kind is not FileKind.OTHER
        and kind is not FileKind.TERRAFORM_STATE
        and size > max_file_bytes
    ):
        notes.append(
            Notification(
                level=NotificationLevel.WARNING,
                message=f"skipped: {size:,} bytes is over the {max_file_bytes:,}-byte limit "
                "(set [tool.infermedic.audit] max-file-bytes to raise it)",
                path=relpath,
            )
        )
        return
    found[relpath] = SourceFile(path=path, relpath=relpath, kind=kind)


def _excluded(relpath: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatch(relpath, p) or fnmatch.fnmatch(relpath + "/", p) for p in patterns)


def _rel(path: Path, root: Path) -> str:
    try:
        text = path.relative_to(root).as_posix()
    except ValueError:
        text = path.as_posix()
    return text if text != "." else path.name


def _common_root(paths: list[Path]) -> Path:
    directories = [p if p.is_dir() else p.parent for p in paths]
    return Path(os.path.commonpath([str(d) for d in directories]))


def git_tracked_files(root: Path) -> tuple[str, ...] | None:
    """Files git tracks under `root`, relative to it; None when `root` is not in a git repo."""
    try:
        completed = subprocess.run(
            ["git", "-C", str(root), "ls-files", "-z", "--full-name", "."],
            capture_output=True,
            check=False,
            timeout=30,
        )
        prefix_run = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--show-prefix"],
            capture_output=True,
            check=False,
            timeout=30,
            text=True,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if completed.returncode != 0 or prefix_run.returncode != 0:
        return None
    prefix = prefix_run.stdout.strip()
    names = completed.stdout.decode("utf-8", "surrogateescape").split("\0")
    return tuple(sorted(n[len(prefix) :] for n in names if n and n.startswith(prefix)))
