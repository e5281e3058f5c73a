"""JSON a user hands in (request bodies, saved incidents, summaries), parsed with one-line
errors: `json.loads` also raises `RecursionError` on deep nesting and a plain `ValueError`
on an integer past Python's digit limit, neither of which is a `JSONDecodeError`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from infermedic.errors import InputError


def parse(text: str | bytes, what: str, *, hint: str | None = None) -> Any:
    """The value in `text`; an `InputError` naming `what` for anything JSON cannot read."""
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        return json.loads(text)
    except UnicodeDecodeError:
        raise InputError(f"{what} is not JSON: it is not UTF-8 text", hint=hint) from None
    except RecursionError:
        raise InputError(f"{what} is not usable JSON: it is nested too deeply", hint=hint) from None
    except ValueError as exc:  # JSONDecodeError, and the integer digit limit
        reason = " ".join(str(exc).split(";")[0].split())[:200]
        raise InputError(f"{what} is not JSON: {reason}", hint=hint) from None


def read(path: Path, what: str, *, max_bytes: int, hint: str | None = None) -> Any:
    """The JSON value in the file at `path`, refused when over `max_bytes` (read no further)."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise InputError(f"{what} is {size} bytes, over the {max_bytes} this reads", hint=hint)
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {what}: {exc.strerror or exc}", hint=hint) from exc
    return parse(raw, what, hint=hint)
