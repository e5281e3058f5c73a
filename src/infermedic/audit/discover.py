"""Finding the files to audit: walk the paths, skip environments and caches, classify files,
and never step outside the given paths through a symlink."""

from __future__ import annotations

import fnmatch
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from infermedic.audit.project import OUTSIDE_TREE, FileKind, SourceFile, inside
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
    # The directories reads may happen in: the directories given and the directory of each
    # file given, resolved. A symlink whose target is elsewhere is not followed.
    roots: tuple[Path, ...] = ()


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


@dataclass(kw_only=True)
class _Walk:
    """The state of one discovery: what was found, noted, and already visited."""

    root: Path
    roots: tuple[Path, ...]
    exclude: tuple[str, ...]
    max_file_bytes: int
    found: dict[str, SourceFile] = field(default_factory=dict)
    notes: list[Notification] = field(default_factory=list)
    seen_dirs: dict[tuple[int, int], str] = field(default_factory=dict)
    seen_files: dict[tuple[int, int], str] = field(default_factory=dict)

    def note(self, message: str, path: Path, level: NotificationLevel) -> None:
        self.notes.append(Notification(level=level, message=message, path=_rel(path, self.root)))


def discover(
    paths: list[Path],
    *,
    exclude: tuple[str, ...] = (),
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> Discovery:
    """Walk `paths` (files or directories). Raises `InputError` for a path that does not exist.

    Never reads outside the given paths: a symlink (to a file or a directory) whose target
    lies elsewhere is not followed and becomes a notification; a link inside the tree is
    walked once (a second way to the same directory or file, or a loop, is noted). A
    directory that cannot be listed is a notification, never silently skipped.
    """
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
    roots = tuple(dict.fromkeys(p if p.is_dir() else p.parent for p in resolved))
    walk = _Walk(
        root=_common_root(resolved), roots=roots, exclude=exclude, max_file_bytes=max_file_bytes
    )
    for path in resolved:
        if path.is_dir():
            _walk_directory(path, walk)
        else:
            _add(path, walk, explicit=True)
    if not walk.found:
        walk.notes.append(
            Notification(
                level=NotificationLevel.NOTE, message="no files to audit under the given path(s)"
            )
        )
    return Discovery(
        root=walk.root,
        files=tuple(walk.found[k] for k in sorted(walk.found)),
        notifications=tuple(walk.notes),
        tracked_files=git_tracked_files(walk.root),
        roots=roots,
    )


def _walk_directory(top: Path, walk: _Walk) -> None:
    """Depth-first, in name order. Real directories and files are taken before links, so a
    file reached both ways is reported under its real path."""
    if not _first_visit(top, walk, link=False):
        return
    pending: list[Path] = [top]
    linked_dirs: list[Path] = []
    linked_files: list[Path] = []
    while pending or linked_dirs:
        if not pending:
            link = linked_dirs.pop(0)
            if _first_visit(link, walk, link=True):
                pending.append(link)
            continue
        directory = pending.pop()
        try:
            with os.scandir(directory) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError as exc:
            walk.note(
                f"cannot read directory: {exc.strerror or exc}; its files were not audited",
                directory,
                NotificationLevel.WARNING,
            )
            continue
        subdirs: list[Path] = []
        for entry in entries:
            path = Path(entry.path)
            try:
                is_link = entry.is_symlink()
                is_dir = entry.is_dir()  # follows a link
            except OSError as exc:
                walk.note(f"cannot read: {exc.strerror or exc}", path, NotificationLevel.WARNING)
                continue
            if is_link and not inside(path, walk.roots):
                walk.note(OUTSIDE_TREE, path, NotificationLevel.WARNING)
                continue
            if is_dir:
                if (
                    entry.name in SKIPPED_DIRS
                    or entry.name.endswith(".egg-info")
                    or _excluded(_rel(path, walk.root), walk.exclude)
                ):
                    continue
                if is_link:
                    linked_dirs.append(path)  # after every real directory: see the docstring
                elif _first_visit(path, walk, link=False):
                    subdirs.append(path)
            elif is_link:
                linked_files.append(path)
            else:
                _add(path, walk, explicit=False)
        pending.extend(reversed(subdirs))
    for path in linked_files:
        _add(path, walk, explicit=False)


def _first_visit(directory: Path, walk: _Walk, *, link: bool) -> bool:
    """Record a directory's identity; False (with a note) when it was walked already."""
    try:
        stat = directory.stat()
    except OSError as exc:
        walk.note(
            f"cannot read directory: {exc.strerror or exc}", directory, NotificationLevel.WARNING
        )
        return False
    key = (stat.st_dev, stat.st_ino)
    if key in walk.seen_dirs:
        first = walk.seen_dirs[key]
        walk.note(
            f"skipped a directory already visited as {first!r} (symlink loop or second link)",
            directory,
            NotificationLevel.NOTE if link else NotificationLevel.WARNING,
        )
        return False
    walk.seen_dirs[key] = _rel(directory, walk.root)
    return True


def _add(path: Path, walk: _Walk, *, explicit: bool) -> None:
    relpath = _rel(path, walk.root)
    if relpath in walk.found or (not explicit and _excluded(relpath, walk.exclude)):
        return
    kind = classify(path.name)
    try:
        if not path.is_file():
            if path.is_symlink() and not path.exists():
                walk.note("broken link: not followed", path, NotificationLevel.NOTE)
            elif kind is not FileKind.OTHER:
                walk.note("skipped: not a regular file", path, NotificationLevel.NOTE)
            return  # sockets, fifos: never opened (a fifo would block the read)
        stat = path.stat()
    except OSError as exc:
        walk.note(f"cannot read file: {exc.strerror}", path, NotificationLevel.WARNING)
        return
    key = (stat.st_dev, stat.st_ino)
    if key in walk.seen_files:
        walk.note(
            f"same file as {walk.seen_files[key]!r} (a link): audited once",
            path,
            NotificationLevel.NOTE,
        )
        return
    if (
        kind is not FileKind.OTHER
        and kind is not FileKind.TERRAFORM_STATE
        and stat.st_size > walk.max_file_bytes
    ):
        walk.note(
            f"skipped: {stat.st_size:,} bytes is over the {walk.max_file_bytes:,}-byte limit "
            "(set [tool.infermedic.audit] max-file-bytes to raise it)",
            path,
            NotificationLevel.WARNING,
        )
        return
    walk.seen_files[key] = relpath
    walk.found[relpath] = SourceFile(path=path, relpath=relpath, kind=kind)


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
            # No fsmonitor hook: a hostile repository's config must not run a command here.
            ["git", "-C", str(root), "-c", "core.fsmonitor=false", "ls-files", "-z"]
            + ["--full-name", "."],
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
