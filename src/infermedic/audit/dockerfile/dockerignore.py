"""`.dockerignore` matching as BuildKit does it: Go-style globs, `**`, `!` exceptions, last
match wins, and a pattern that matches a directory excludes everything under it.

Hand-written: `pathspec` implements gitignore semantics, which differ (a pattern without a
slash matches at any depth in git, only at the context root in Docker).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath


@dataclass(frozen=True, slots=True)
class _Pattern:
    regex: re.Pattern[str]
    exclusion: bool  # a `!pattern` re-includes what it matches


@dataclass(frozen=True, slots=True)
class DockerIgnore:
    """The patterns of one `.dockerignore`; `excludes()` answers for context-relative paths."""

    patterns: tuple[_Pattern, ...] = ()

    @classmethod
    def parse(cls, text: str) -> DockerIgnore:
        patterns: list[_Pattern] = []
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            exclusion = line.startswith("!")
            line = line[1:].strip() if exclusion else line
            cleaned = str(PurePosixPath("/" + line)).lstrip("/")
            if cleaned:
                patterns.append(_Pattern(regex=_compile(cleaned), exclusion=exclusion))
        return cls(tuple(patterns))

    @classmethod
    def for_context(
        cls, context: Path, dockerfile: Path, *, allowed: Callable[[Path], bool] | None = None
    ) -> DockerIgnore:
        """BuildKit reads `<Dockerfile>.dockerignore` beside the Dockerfile first, then the
        context's `.dockerignore`. A candidate `allowed` refuses (a link out of the audited
        tree, which discovery already reported) is not read."""
        for candidate in (
            dockerfile.with_name(dockerfile.name + ".dockerignore"),
            context / ".dockerignore",
        ):
            if allowed is not None and candidate.exists() and not allowed(candidate):
                continue
            try:
                return cls.parse(candidate.read_text(encoding="utf-8", errors="replace"))
            except OSError:
                continue
        return cls()

    def excludes(self, relpath: str) -> bool:
        parts = PurePosixPath(relpath).parts
        candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        excluded = False
        for pattern in self.patterns:
            if any(pattern.regex.match(c) for c in candidates):
                excluded = not pattern.exclusion
        return excluded


def _compile(pattern: str) -> re.Pattern[str]:
    out: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if pattern.startswith("**", index):
            index += 2
            if pattern.startswith("/", index):
                index += 1
                out.append("(?:.*/)?")
            else:
                out.append(".*")
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find("]", index + 1)
            if end == -1:
                out.append(re.escape(char))
            else:
                body = pattern[index + 1 : end]
                body = "^" + body[1:] if body.startswith(("!", "^")) else body
                out.append(f"[{body.replace(chr(92), chr(92) * 2)}]")
                index = end
        elif char == "\\" and index + 1 < len(pattern):
            index += 1
            out.append(re.escape(pattern[index]))
        else:
            out.append(re.escape(char))
        index += 1
    return re.compile("^" + "".join(out) + "$")
