"""The terminal view never passes a control character from data to the terminal."""

from __future__ import annotations

import json
import re

import pytest

from infermedic.model import (
    Finding,
    Location,
    Notification,
    NotificationLevel,
    Report,
    Severity,
    Table,
)
from infermedic.report import OutputFormat, render
from infermedic.report.terminal import printable

RED = "\x1b[31m"


def hostile_report() -> Report:
    """Names and messages as a hostile repository, data file or service could send them."""
    return Report(
        tool="audit",
        findings=(
            Finding(
                code="TST001",
                name="test-rule",
                severity=Severity.HIGH,
                message=f"model {RED}loaded\rOK: nothing wrong\x9b2J\u202egnp.exe",
                location=Location(path=f"app/{RED}evil\r\n.py", line=3),
                fix=f"rename {RED}it\x07",
            ),
        ),
        notifications=(
            Notification(
                level=NotificationLevel.WARNING,
                message=f"skipped {RED}file\x1b]0;pwned\x07",
                path="data/\x1b[2Jx.csv",
            ),
        ),
        inputs=(f"repo/{RED}",),
        tables=(
            Table(
                title=f"[bold]columns{RED}",
                columns=(f"age{RED}", "[red]plan"),
                rows=((f"v{RED}\r", 1.0),),
            ),
        ),
    )


@pytest.mark.parametrize("color", [False, True])
def test_no_control_character_from_data_reaches_the_terminal(color: bool) -> None:
    text = render(hostile_report(), OutputFormat.TERMINAL, color=color)
    if color:
        # rich's own styling is the only ESC left: remove the SGR sequences it writes.
        text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    controls = {ch for ch in text if ch not in "\n" and (ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0)}
    assert controls == set()
    assert "\u202e" not in text
    # The data is shown, escaped, not dropped.
    assert r"app/\x1b[31mevil\x0d\x0a.py:3" in text
    assert r"loaded\x0dOK: nothing wrong\x9b2J\u202egnp.exe" in text
    assert r"skipped \x1b[31mfile\x1b]0;pwned\x07" in text
    assert r"data/\x1b[2Jx.csv" in text
    assert r"age\x1b[31m" in text and "[red]plan" in text and "[bold]columns" in text


def test_json_keeps_the_data_as_it_is() -> None:
    data = json.loads(render(hostile_report(), OutputFormat.JSON))
    assert data["findings"][0]["location"]["path"] == f"app/{RED}evil\r\n.py"


def test_printable_escapes_controls_and_keeps_text() -> None:
    assert printable(f"a{RED}b\rc") == r"a\x1b[31mb\x0dc"
    assert printable("line 1\n\tline 2 · é 漢") == "line 1\n\tline 2 · é 漢"
    assert printable("a\nb", keep_newlines=False) == r"a\x0ab"
    assert printable("\x7f\x85\u2066") == r"\x7f\x85\u2066"
