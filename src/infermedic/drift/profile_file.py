"""The drift profile on disk: one JSON document, written atomically, recognised by its first
bytes, and read back through the strict reader (`profile_check`).

The profile's types (`profile`) know nothing of files; the strict reader builds them; this
module joins the two, so neither imports the other's caller.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from infermedic.atomic import write_atomically
from infermedic.drift.profile import PROFILE_FORMAT, ColumnProfile, DatasetProfile
from infermedic.drift.profile_check import read_profile
from infermedic.errors import DatasetError

# -- writing ---------------------------------------------------------------------------------


def to_json_dict(profile: DatasetProfile) -> dict[str, Any]:
    return {
        "format": PROFILE_FORMAT,
        "version": profile.version,
        "engine": profile.engine,
        "created_at": profile.created_at,
        "sources": list(profile.sources),
        "rows": profile.rows,
        "excluded": dict(profile.excluded),
        "columns": [_column_to_dict(c) for c in profile.columns],
    }


def _b64(raw: bytes | None) -> str | None:
    return None if raw is None else base64.b64encode(raw).decode("ascii")


def _column_to_dict(column: ColumnProfile) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": column.name,
        "kind": column.kind.value,
        "dtype": column.dtype,
        "rows": column.rows,
        "nulls": column.nulls,
        "non_finite": column.non_finite,
    }
    if column.unparsed:
        data["unparsed"] = column.unparsed
        data["unparsed_examples"] = dict(column.unparsed_examples)
    if column.numeric is not None:
        n = column.numeric
        data["numeric"] = {
            "count": n.count,
            "min": n.minimum,
            "max": n.maximum,
            "mean": n.mean,
            "variance": n.variance,
            "kll_k": n.sketch_k,
            "kll": _b64(n.sketch),
            "binning": None
            if n.binning is None
            else {
                "edges": list(n.binning.edges),
                "psi_edges": list(n.binning.psi_edges),
                "counts": list(n.binning.counts),
            },
        }
    if column.categorical is not None:
        c = column.categorical
        data["categorical"] = {
            "counts": dict(c.counts),
            "frequent_items": _b64(c.sketch),
            "frequent_items_lg_max_k": c.sketch_lg_max_k,
        }
    return data


def save_profile(profile: DatasetProfile, path: Path) -> None:
    """Write the profile as JSON, atomically (a reader never sees half of it)."""
    text = json.dumps(to_json_dict(profile), allow_nan=False, separators=(",", ":"))
    try:
        write_atomically(path, text)
    except OSError as exc:
        raise DatasetError(f"cannot write drift profile {path}: {exc.strerror or exc}") from exc


def is_profile_file(path: Path) -> bool:
    """True when `path` is a file whose first bytes announce a drift profile."""
    if not path.is_file():
        return False
    try:
        with path.open("rb") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    # the format key is written first, but a hand-edited profile may have it further in
    return head.lstrip().startswith(b"{") and PROFILE_FORMAT.encode() in head


def load_profile(path: Path) -> DatasetProfile:
    """Read and check a saved profile; any damage is a one-line `DatasetError`."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"cannot read drift profile {path}: {exc.strerror or exc}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise DatasetError(
            f"{path} is not a drift profile: it is not UTF-8 text (binary data?)",
            hint="give a file written by `infermedic drift profile DATA --output FILE`",
        ) from None
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        # an unterminated string runs to the end of the text: cut off as well
        cut = exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string")
        where = "truncated" if cut else "damaged"
        raise DatasetError(
            f"{path} is not a readable drift profile: {where} JSON ({exc.msg} at line "
            f"{exc.lineno}, column {exc.colno})",
            hint="rebuild it with `infermedic drift profile DATA --output FILE`",
        ) from None
    except (ValueError, RecursionError) as exc:
        raise DatasetError(f"{path} is not a readable drift profile: {exc}") from None
    if not isinstance(data, dict):
        raise DatasetError(f"{path} is not an infermedic drift profile (not a JSON object)")
    # every field checked: a damaged profile must never be compared or merged as if sound
    return read_profile(data, source=str(path))


def _reject_constant(name: str) -> Any:
    """`json.loads` accepts NaN and Infinity; a profile never holds them (they are written
    with allow_nan=False), so one in a file is damage, refused by name."""
    raise ValueError(f"it holds {name}, which a drift profile never contains")
