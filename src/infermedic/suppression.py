"""Suppression comments for Python, YAML and Dockerfiles, and the unused-suppression report.

```
x = model.predict(X)  # infermedic: ignore[SVC001]     this line (trailing comment)
# infermedic: ignore[DKR001]                            the next code line (own-line comment)
# infermedic: ignore=DKR001,DKR002                      hadolint-style spelling, same meaning
x = model.predict(X)  # noqa: SVC001                    honoured for familiarity (codes required)
# infermedic: disable[SVC003] … # infermedic: enable[SVC003]    a range
# infermedic: noqa  /  # infermedic: noqa[MON001]      the whole file
```

A code may be a prefix (`SVC` covers every SVC rule); no code means every rule.
"""

from __future__ import annotations

import enum
import io
import re
import tokenize
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from infermedic.model import Finding, Notification, NotificationLevel

_CODE = r"[A-Z]{2,5}\d{0,3}"
_DIRECTIVE = re.compile(
    r"#\s*infermedic:\s*(?P<verb>ignore|disable|enable|noqa)"
    r"(?:\[(?P<bracket>[^\]]*)\]|=(?P<equals>[A-Za-z0-9, ]+))?"
    rf"|#\s*noqa:\s*(?P<noqa>{_CODE}\b(?:\s*,\s*{_CODE}\b)*)"
)


class Extent(enum.Enum):
    LINE = "line"
    RANGE = "range"
    FILE = "file"


@dataclass(kw_only=True)
class Directive:
    """One suppression comment: the lines it covers and the codes it names (None = all)."""

    line: int  # where the comment is
    first: int  # first line covered
    last: int  # last line covered
    extent: Extent
    codes: frozenset[str] | None
    text: str
    used: set[str] = field(default_factory=set)

    def covers(self, finding: Finding) -> bool:
        line = finding.location.line
        if self.extent is not Extent.FILE and (line is None or not self.first <= line <= self.last):
            return False
        return self.codes is None or any(finding.code.startswith(c) for c in self.codes)


def parse_directives(text: str, *, python: bool = False) -> list[Directive]:
    """Every suppression comment in `text`, with the lines each covers.

    For Python (`python=True`) only real comments count, not text inside strings.
    """
    if "infermedic:" not in text and "noqa:" not in text:
        return []
    lines = text.splitlines()
    found = [
        (number, raw, match)
        for number, raw in enumerate(lines, start=1)
        if (match := _DIRECTIVE.search(raw)) is not None
    ]
    if not found:  # e.g. only flake8 directives (one-letter codes): no need to tokenize
        return []
    comment_lines = _python_comment_lines(text) if python else None
    directives: list[Directive] = []
    open_ranges: dict[frozenset[str] | None, Directive] = {}
    for number, raw, match in found:
        if comment_lines is not None and number not in comment_lines:
            continue
        codes_text = match.group("bracket") or match.group("equals") or match.group("noqa")
        codes = _codes(codes_text)
        verb = match.group("verb") or "ignore"
        own_line = raw.lstrip().startswith("#")
        if verb == "noqa":
            directives.append(
                Directive(
                    line=number,
                    first=1,
                    last=len(lines),
                    extent=Extent.FILE,
                    codes=codes,
                    text=match.group(0),
                )
            )
        elif verb == "disable":
            directive = Directive(
                line=number,
                first=number,
                last=len(lines),
                extent=Extent.RANGE,
                codes=codes,
                text=match.group(0),
            )
            directives.append(directive)
            open_ranges[codes] = directive
        elif verb == "enable":
            opened = open_ranges.pop(codes, None)
            if opened is not None:
                opened.last = number
        else:
            target = _next_code_line(lines, number) if own_line else number
            directives.append(
                Directive(
                    line=number,
                    first=target,
                    last=target,
                    extent=Extent.LINE,
                    codes=codes,
                    text=match.group(0),
                )
            )
    return directives


def _python_comment_lines(text: str) -> set[int]:
    """Line numbers holding a `#` comment token (a string that looks like one does not)."""
    try:
        tokens = tokenize.generate_tokens(io.StringIO(text).readline)
        return {t.start[0] for t in tokens if t.type == tokenize.COMMENT}
    except (tokenize.TokenError, SyntaxError):
        return set()


def _codes(text: str | None) -> frozenset[str] | None:
    if text is None or not text.strip():
        return None
    return frozenset(c.strip().upper() for c in re.split(r"[,\s]+", text) if c.strip())


def _next_code_line(lines: list[str], number: int) -> int:
    for index in range(number, len(lines)):
        stripped = lines[index].strip()
        if stripped and not stripped.startswith("#"):
            return index + 1
    return number


def apply_suppressions(
    findings: Iterable[Finding],
    read_text: Callable[[str], str | None],
    scanned_paths: Iterable[str],
    rules_run: Iterable[str],
) -> tuple[list[Finding], list[Notification]]:
    """Drop suppressed findings; report suppressions that matched nothing.

    `read_text(relpath)` gives a file's text (None when unreadable); `scanned_paths` are the
    files whose comments count; only codes of `rules_run` can be reported unused.
    """
    by_path: dict[str, list[Directive]] = {}
    for path in scanned_paths:
        text = read_text(path)
        if text:
            parsed = parse_directives(text, python=path.endswith(".py"))
            if parsed:
                by_path[path] = parsed
    kept: list[Finding] = []
    for finding in findings:
        directive = next(
            (d for d in by_path.get(finding.location.path or "", []) if d.covers(finding)), None
        )
        if directive is None:
            kept.append(finding)
        else:
            directive.used.add(finding.code)
    ran = set(rules_run)
    notes: list[Notification] = []
    for path, directives in sorted(by_path.items()):
        for directive in directives:
            if directive.used:
                continue
            if directive.codes is not None and not any(
                code.startswith(c) for c in directive.codes for code in ran
            ):
                continue  # a suppression for a rule that did not run is not known to be stale
            notes.append(
                Notification(
                    level=NotificationLevel.NOTE,
                    message=f"line {directive.line}: unused suppression `{directive.text}`",
                    path=path,
                )
            )
    return kept, notes
