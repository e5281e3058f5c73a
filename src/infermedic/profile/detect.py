"""Which kind of model the user named, decided from its bytes and name, never guessed silently.

Detection reads file headers only; nothing is unpickled or imported here (that happens in the
worker process, and only for the artifact the user named).
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from infermedic.errors import ModelLoadError

OBJECT_REF = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")

SUPPORTED = (
    "scikit-learn estimator or Pipeline saved with joblib or pickle (.joblib, .pkl), "
    "ONNX (.onnx), XGBoost (.ubj, .json), LightGBM (.txt model dump), TorchScript (.pt), "
    "torch.export (.pt2), an MLflow model directory (with MLmodel), or MODULE:ATTR"
)


class ModelFormat(enum.StrEnum):
    PICKLE = "pickle"  # joblib or plain pickle; scikit-learn or any picklable model
    ONNX = "onnx"
    OBJECT = "object"  # MODULE:ATTR
    XGBOOST = "xgboost"
    LIGHTGBM = "lightgbm"
    TORCHSCRIPT = "torchscript"
    TORCH_EXPORT = "torch-export"
    MLFLOW = "mlflow"


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelRef:
    """The model the user named and what was detected about its artifact."""

    text: str  # as the user wrote it
    format: ModelFormat
    path: str | None  # absolute artifact path; None for MODULE:ATTR
    size_bytes: int | None = None
    sha256: str | None = None
    detected_by: str = ""  # what decided the format, for the report


# Compressed joblib dumps start with these magic bytes; plain pickles with protocol 2+ 0x80.
_COMPRESSED = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ", b"\x04\x22\x4d\x18", b"ZL")


def detect_model(text: str) -> ModelRef:
    """Decide the format of `text` (a path or MODULE:ATTR) or raise `ModelLoadError`."""
    path = Path(text).expanduser()
    if not path.exists():
        if OBJECT_REF.match(text):
            return ModelRef(
                text=text, format=ModelFormat.OBJECT, path=None, detected_by="MODULE:ATTR"
            )
        raise ModelLoadError(
            f"model {text!r} does not exist",
            hint=f"name a model file or directory, or MODULE:ATTR; supported: {SUPPORTED}",
        )
    path = path.resolve()
    if path.name == "MLmodel" and path.is_file():
        path = path.parent  # the MLmodel file stands for the directory it describes
    if path.is_dir():
        if (path / "MLmodel").is_file():
            return ModelRef(
                text=text, format=ModelFormat.MLFLOW, path=str(path), detected_by="MLmodel file"
            )
        raise ModelLoadError(
            f"{text} is a directory without an MLmodel file",
            hint="name the model file itself, or an MLflow model directory",
        )
    try:
        with path.open("rb") as handle:
            head = handle.read(512)
    except OSError as exc:
        raise ModelLoadError(f"cannot read model {text}: {exc.strerror}") from exc
    fmt, reason = _format_of(path, head)
    if fmt is None:
        raise ModelLoadError(
            f"cannot tell what kind of model {text} is ({reason})",
            hint=f"supported: {SUPPORTED}",
        )
    size, digest = _size_and_digest(path)
    return ModelRef(
        text=text, format=fmt, path=str(path), size_bytes=size, sha256=digest, detected_by=reason
    )


def _format_of(path: Path, head: bytes) -> tuple[ModelFormat | None, str]:
    suffix = path.suffix.lower()
    if not head:
        return None, "the file is empty"
    if head[:1] == b"\x80" and head[1:2] in {bytes([p]) for p in range(2, 6)}:
        return ModelFormat.PICKLE, f"pickle protocol {head[1]} header"
    if any(head.startswith(magic) for magic in _COMPRESSED) and suffix in {
        ".joblib",
        ".pkl",
        ".pickle",
        ".sav",
        ".gz",
        ".bz2",
        ".xz",
        ".lz4",
        ".z",
    }:
        return ModelFormat.PICKLE, "compressed joblib header"
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
        if any(n.endswith("constants.pkl") or "/code/" in n for n in names):
            return ModelFormat.TORCHSCRIPT, "TorchScript zip archive"
        if any(n.endswith("serialized_exported_program.json") or "/models/" in n for n in names):
            return ModelFormat.TORCH_EXPORT, "torch.export archive"
        return None, "a zip archive that is neither TorchScript nor torch.export"
    if head.startswith(b"tree\nversion=") or head.startswith(b"tree\r\nversion="):
        return ModelFormat.LIGHTGBM, "LightGBM text model header"
    if suffix == ".onnx":
        return ModelFormat.ONNX, ".onnx suffix"
    if _XGBOOST_UBJSON.match(head):
        return ModelFormat.XGBOOST, "XGBoost UBJSON header (a `learner` object)"
    if suffix == ".ubj":
        return ModelFormat.XGBOOST, "XGBoost UBJSON suffix"
    if _XGBOOST_JSON.match(head) or (suffix == ".json" and _is_xgboost_json(path)):
        return ModelFormat.XGBOOST, "XGBoost JSON model (a `learner` object)"
    if suffix in {".pkl", ".pickle", ".joblib", ".sav"}:
        return None, f"a {suffix} file without a pickle or joblib header (corrupt or truncated?)"
    return None, f"unrecognised header and suffix {suffix or '(none)'}"


# XGBoost writes object keys sorted, so its models open with the `learner` key: in JSON
# `{"learner":`, in UBJSON `{` then the key's length (an integer of any UBJSON width) and name.
_XGBOOST_JSON = re.compile(rb'^\s*\{\s*"learner"\s*:')
_XGBOOST_UBJSON = re.compile(
    rb"^\{(?:i|U)\x07learner|^\{I\x00\x07learner|^\{l\x00{3}\x07learner|^\{L\x00{7}\x07learner"
)


def _is_xgboost_json(path: Path) -> bool:
    """For a .json whose head is not XGBoost's usual one; only small files are parsed."""
    if path.stat().st_size > 64 * 2**20:
        return False
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(document, dict) and "learner" in document


def _size_and_digest(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()
