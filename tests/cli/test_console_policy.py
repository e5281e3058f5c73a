"""Colour and width follow the conventions users set for other tools: NO_COLOR, FORCE_COLOR
and COLUMNS (the real terminal's width otherwise)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from infermedic.cli.console import use_color

ANSI = "\x1b["


def _rules(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    result = subprocess.run(
        [sys.executable, "-m", "infermedic", "rules"],
        capture_output=True,
        text=True,
        env={**clean, "PYTHONPATH": os.pathsep.join(sys.path), **env},
        timeout=120,
        check=True,
    )
    return result.stdout


def test_piped_output_is_plain_unless_forced() -> None:
    assert ANSI not in _rules()
    assert ANSI in _rules(FORCE_COLOR="1")
    assert ANSI not in _rules(FORCE_COLOR="0")


def test_no_color_wins_over_force_color() -> None:
    assert ANSI not in _rules(FORCE_COLOR="1", NO_COLOR="1")


@pytest.mark.parametrize("columns", [80, 160])
def test_tables_fit_the_width_they_are_given(columns: int) -> None:
    lines = _rules(COLUMNS=str(columns)).splitlines()
    assert max(len(line) for line in lines) <= columns
    if columns == 160:  # room is used, not a fixed 110 or 140
        assert max(len(line) for line in lines) > 110


def test_policy_reads_the_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty:
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    assert use_color(Tty())  # type: ignore[arg-type]
    monkeypatch.setenv("NO_COLOR", "1")
    assert not use_color(Tty())  # type: ignore[arg-type]
