"""Read the project's Dockerfiles and look into their build contexts."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from infermedic.audit.dockerfile.dockerignore import DockerIgnore
from infermedic.audit.dockerfile.parser import Dockerfile, parse_dockerfile
from infermedic.audit.project import AuditProject, FileKind, SourceFile

MODEL_SUFFIXES = frozenset(
    {
        ".pkl",
        ".pickle",
        ".joblib",
        ".pt",
        ".pth",
        ".onnx",
        ".h5",
        ".hdf5",
        ".keras",
        ".safetensors",
        ".ckpt",
        ".tflite",
        ".gguf",
        ".mar",
        ".cbm",
        ".mlmodel",
        ".pmml",
    }
)
# Generic binary suffixes that are model weights only inside a model directory.
WEIGHT_SUFFIXES = frozenset(
    {".bin", ".pb", ".msgpack", ".params", ".model", ".data-00000-of-00001"}
)
MODEL_DIRS = frozenset(
    {
        "model",
        "models",
        "weights",
        "checkpoints",
        "checkpoint",
        "saved_model",
        "saved_models",
        "mlruns",
        "huggingface",
        "hf_cache",
        "model_store",
        "model-store",
    }
)
_SKIP_DIRS = frozenset(
    {
        ".git",
        "node_modules",
        ".venv",
        "venv",
        "__pycache__",
        ".tox",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
        ".terraform",
    }
)
_WALK_LIMIT = 50_000


def dockerfiles(project: AuditProject) -> Iterator[tuple[SourceFile, Dockerfile]]:
    """Each Dockerfile parsed; unreadable ones become notifications."""
    for file in project.files_of(FileKind.DOCKERFILE):
        try:
            text = file.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            project.notify(f"skipped: cannot read as UTF-8 text ({exc})", path=file.relpath)
            continue
        yield file, parse_dockerfile(text)


def is_model_path(path: str) -> bool:
    """Whether a path (or glob) names a model artifact by its suffix and directory."""
    pure = PurePosixPath(path.rstrip("/"))
    suffix = pure.suffix.lower()
    if suffix in MODEL_SUFFIXES:
        return True
    return suffix in WEIGHT_SUFFIXES and in_model_dir(path)


def in_model_dir(path: str) -> bool:
    return any(part.lower() in MODEL_DIRS for part in PurePosixPath(path).parts[:-1])


def names_model_dir(path: str) -> bool:
    """Whether the path's last part is a model directory name: `models/`, `/opt/model`."""
    name = PurePosixPath(path.rstrip("/")).name.lower()
    return name in MODEL_DIRS


def context_model_files(
    project: AuditProject, dockerfile: SourceFile, source: str
) -> tuple[list[str], bool]:
    """Model artifacts a `COPY <source>` would send from the build context, after
    `.dockerignore`, and whether `source` exists in the context.

    The context is taken to be the Dockerfile's directory. In a git repository only tracked
    files count (what CI builds); otherwise the files on disk.
    """
    context = dockerfile.path.parent
    context_rel = PurePosixPath(dockerfile.relpath).parent.as_posix()
    context_rel = "" if context_rel == "." else context_rel + "/"
    cleaned = PurePosixPath("/" + source).as_posix().lstrip("/").rstrip("/")
    ignore = DockerIgnore.for_context(context, dockerfile.path, allowed=project.contains)
    if project.tracked_files is not None:
        candidates = [
            t[len(context_rel) :] for t in project.tracked_files if t.startswith(context_rel)
        ]
    else:
        candidates = list(_walk(str(context)))
    prefix = "" if cleaned in ("", ".") else cleaned + "/"
    # A source outside the context (`../x`, or a link out of the tree) is not looked at:
    # Docker refuses it too.
    target = context / cleaned
    exists = project.contains(target) and target.exists() if cleaned not in ("", ".") else True
    found = sorted(
        c
        for c in candidates
        if (not prefix or c.startswith(prefix) or c == cleaned)
        and is_model_path(c)
        and not ignore.excludes(c)
    )
    return found, exists


def _walk(root: str) -> tuple[str, ...]:
    found: list[str] = []
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = [d for d in subdirs if d not in _SKIP_DIRS]
        rel = os.path.relpath(directory, root)
        found.extend(f if rel == "." else f"{Path(rel).as_posix()}/{f}" for f in files)
        if len(found) > _WALK_LIMIT:
            break
    return tuple(found)
