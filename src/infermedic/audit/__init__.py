"""Static audit of a serving repository: `audit(paths, settings) -> Report`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from infermedic.model import Report
from infermedic.settings import Settings

__all__ = ["audit"]


def audit(
    paths: Sequence[str | Path],
    settings: Settings | None = None,
    *,
    progress: Callable[[int, int, str], None] | None = None,
) -> Report:
    """Audit the files under `paths` with every selected Python and project rule.

    `progress(done, total, relpath)` is called after each Python file is read. Raises
    `InputError` when a path does not exist and `ConfigError` for invalid settings; a file
    that cannot be read and a rule that fails become notifications in the report.
    """
    from infermedic.audit.engine import run_audit

    return run_audit([Path(p) for p in paths], settings or Settings(), progress=progress)


from infermedic._entry import make_callable  # noqa: E402 - after the entry point

make_callable(__name__)
