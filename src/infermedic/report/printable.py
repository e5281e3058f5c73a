"""Text made safe and sized for a terminal, without rich: what every command needs to write
its one-line answer, also when the report itself is JSON (rich's import, ~50 ms, is paid only
where a rich view is drawn)."""

from __future__ import annotations

# Characters a terminal acts on instead of showing: C0 controls (ESC starts colour, cursor and
# title sequences; CR overwrites the line), DEL, C1 controls (0x9b is a one-byte CSI) and the
# bidirectional overrides that reorder what is shown. Data (file and column names, messages
# from the service) can carry any of them; the terminal view shows them as `\x1b`-style escapes.
_CONTROLS = [*range(0x00, 0x20), *range(0x7F, 0xA0), 0x200E, 0x200F, *range(0x202A, 0x202F)]
_CONTROLS += [*range(0x2066, 0x206A)]
_ESCAPES = {code: f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" for code in _CONTROLS}
_ESCAPES_KEEP_LINES = {code: text for code, text in _ESCAPES.items() if chr(code) not in "\n\t"}


def printable(text: str, *, keep_newlines: bool = True) -> str:
    """`text` with every terminal control character shown as an escape (`\x1b`, `\x0d`).

    Newlines and tabs are kept for multi-line messages unless `keep_newlines` is False (names
    and locations, which must stay on one line).
    """
    return text.translate(_ESCAPES_KEEP_LINES if keep_newlines else _ESCAPES)


def terminal_width() -> int:
    """The terminal's width in columns (`COLUMNS` first; 110 off a terminal): the one width
    policy of every command (`cli/console.py` builds its consoles on it)."""
    import shutil  # here: shutil loads bz2 and lzma, for a width only a terminal view needs

    return max(40, shutil.get_terminal_size((110, 24)).columns)
