"""One policy for colour and width in every command's terminal output.

Colour follows the conventions users already set for other tools: `NO_COLOR` (any
non-empty value) turns it off, `FORCE_COLOR` (non-empty, not "0") turns it on even when
piped, otherwise colour only on a terminal. The width is the real terminal's; `COLUMNS`
overrides it, and 110 columns is the fallback off a terminal.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, TextIO

from infermedic.report.printable import terminal_width

if TYPE_CHECKING:
    from rich.console import Console


def use_color(stream: TextIO) -> bool:
    """Whether output written to `stream` should carry colour."""
    if os.environ.get("NO_COLOR"):
        return False
    force = os.environ.get("FORCE_COLOR")
    if force and force != "0":
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def console_for(stream: TextIO) -> Console:
    """A rich console for `stream` that follows the colour and width policy above."""
    from rich.console import Console

    color = use_color(stream)
    return Console(
        file=stream,
        force_terminal=color,
        no_color=not color,
        width=terminal_width(),
        highlight=False,
    )
