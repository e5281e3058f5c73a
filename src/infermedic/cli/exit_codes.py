"""Exit codes: 0 nothing at or above `--fail-on`, 1 findings at or above it, 2 usage/input error."""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    OK = 0
    FINDINGS = 1
    ERROR = 2
