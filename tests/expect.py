"""Inline expectations for rule fixtures: `# expect: CODE` on the line a finding is about.

```
model.predict(X)  # expect: SVC001                  trailing: this line
# expect: 5 SVC001 "event loop"                     own-line: the next code line; column 5,
model.predict(X)                                    message must contain "event loop"
# expect-file: DKR005                               a whole-file finding (line is None)
# known-miss: why                                   a documented gap (no expectation)
# infermedic-options: {threshold = 0.95}            options for the rule under test
# fixture-path: deploy/alerts.yaml                  the name the fixture is audited under
```

In Dockerfiles only the own-line form is allowed (`RUN x # y` hands `# y` to the shell).
Directory fixtures may also list expectations in `expected.txt`, one `PATH:LINE CODE` (or
`PATH:- CODE` for a whole-file finding) per line, for files that cannot hold comments.
Matching is exact: a multiset of (path, line, code[, column][, substring]); a missing and
an unexpected finding both count.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from infermedic.model import Finding

CODE = r"[A-Z][A-Z0-9]{1,4}\d{3}"  # K8S003 too
_EXPECT = re.compile(r"#\s*expect:\s*(?P<items>.*)$")
_EXPECT_FILE = re.compile(rf"#\s*expect-file:\s*(?P<codes>{CODE}(?:\s*,\s*{CODE})*)")
_ITEM = re.compile(rf'\s*(?:(?P<column>\d+)\s+)?(?P<code>{CODE})(?:\s+"(?P<text>[^"]*)")?\s*')
_OPTIONS = re.compile(r"#\s*infermedic-options:\s*(?P<table>\{.*\})\s*$")
_FIXTURE_PATH = re.compile(r"#\s*fixture-path:\s*(?P<path>\S+)")
_FIXTURE_NAME = re.compile(rf"^(?P<code>{CODE})(?P<variant>_[A-Za-z0-9_]+)?(?:\.|$)")


@dataclass(frozen=True)
class Expectation:
    """One expected finding. `line` None means a whole-file finding."""

    path: str
    line: int | None
    code: str
    column: int | None = None
    text: str | None = None
    written_at: int = 0  # the line holding the comment, for messages

    def matches(self, finding: Finding) -> bool:
        location = finding.location
        return (
            finding.code == self.code
            and (location.path or "") == self.path
            and location.line == self.line
            and (self.column is None or location.column == self.column)
            and (self.text is None or self.text in finding.message)
        )

    def describe(self) -> str:
        where = f"{self.path}:{self.line if self.line is not None else '-'}"
        extra = f" col {self.column}" if self.column is not None else ""
        extra += f' "{self.text}"' if self.text is not None else ""
        return f"{where} {self.code}{extra} (written at line {self.written_at})"


def fixture_code(name: str) -> str | None:
    """The rule code a fixture file or directory is named after (`SVC001_sync_def.py`)."""
    match = _FIXTURE_NAME.match(name)
    return match.group("code") if match else None


def is_ok_fixture(name: str) -> bool:
    """`*_ok.*`: the only fixtures allowed to expect nothing."""
    match = _FIXTURE_NAME.match(name)
    return bool(match and match.group("variant") and match.group("variant").endswith("_ok"))


def parse_expectations(text: str, path: str, *, own_line_only: bool = False) -> list[Expectation]:
    """The expectations written in one file's comments."""
    lines = text.splitlines()
    found: list[Expectation] = []
    for index, raw in enumerate(lines):
        number = index + 1
        file_match = _EXPECT_FILE.search(raw)
        if file_match is not None:
            found += [
                Expectation(path=path, line=None, code=c.strip(), written_at=number)
                for c in file_match.group("codes").split(",")
            ]
            continue
        match = _EXPECT.search(raw)
        if match is None:
            continue
        own_line = raw.lstrip().startswith("#")
        if own_line_only and not own_line:
            raise ValueError(f"{path}:{number}: only own-line `# expect:` comments are allowed")
        target = _next_code_line(lines, index) if own_line else number
        found += [
            Expectation(
                path=path, line=target, code=code, column=column, text=text_part, written_at=number
            )
            for code, column, text_part in _items(match.group("items"), f"{path}:{number}")
        ]
    return found


def _items(text: str, where: str) -> list[tuple[str, int | None, str | None]]:
    items: list[tuple[str, int | None, str | None]] = []
    position = 0
    while True:
        match = _ITEM.match(text, position)
        if match is None:
            raise ValueError(f"{where}: cannot read expectation {text[position:]!r}")
        column = match.group("column")
        items.append((match.group("code"), int(column) if column else None, match.group("text")))
        position = match.end()
        if position >= len(text) or text[position] == "#":
            return items
        if text[position] != ",":
            raise ValueError(f"{where}: expected `,` in {text!r}")
        position += 1


def _next_code_line(lines: list[str], index: int) -> int:
    for later in range(index + 1, len(lines)):
        stripped = lines[later].strip()
        is_expectation = stripped.startswith("#") and bool(
            _EXPECT.search(stripped) or _EXPECT_FILE.search(stripped)
        )
        if stripped and not is_expectation:
            return later + 1
    raise ValueError(f"line {index + 1}: own-line `# expect:` with no code line after it")


def parse_expected_list(text: str) -> list[Expectation]:
    """`expected.txt` in a directory fixture: `PATH:LINE CODE` or `PATH:- CODE` per line."""
    found: list[Expectation] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        entry = raw.split("#", 1)[0].strip()
        if not entry:
            continue
        where, code = entry.rsplit(None, 1)
        path, _, line = where.rpartition(":")
        found.append(
            Expectation(
                path=path, line=None if line == "-" else int(line), code=code, written_at=number
            )
        )
    return found


def fixture_options(text: str) -> dict[str, Any]:
    """The `# infermedic-options: {...}` table (TOML inline table), empty when absent."""
    for raw in text.splitlines():
        match = _OPTIONS.search(raw)
        if match is not None:
            value: dict[str, Any] = tomllib.loads(f"options = {match.group('table')}")["options"]
            return value
    return {}


def fixture_path(text: str) -> str | None:
    """The `# fixture-path: NAME` a fixture asks to be audited under, if any."""
    match = _FIXTURE_PATH.search(text)
    return match.group("path") if match else None


def compare(expectations: Iterable[Expectation], findings: Iterable[Finding]) -> list[str]:
    """Problems between what was expected and what was found; empty when they match exactly."""
    remaining = list(findings)
    problems: list[str] = []
    for expectation in expectations:
        hit = next((f for f in remaining if expectation.matches(f)), None)
        if hit is None:
            problems.append(f"missing: {expectation.describe()}")
        else:
            remaining.remove(hit)
    for finding in remaining:
        location = finding.location
        problems.append(
            f"unexpected: {location.path}:{location.line}:{location.column} "
            f"{finding.code} {finding.message}"
        )
    return problems
