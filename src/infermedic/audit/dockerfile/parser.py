"""A small Dockerfile parser: instructions with line numbers, continuations, heredocs, stages.

Hand-written on purpose: the grammar is small and documented in the Dockerfile reference,
and `dockerfile-parse` (the maintained PyPI parser) would add a dependency while leaving
stages, heredoc bodies and exec-form detection to us anyway.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass

_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9_-]*)\s*=\s*(\S+)\s*$")
_HEREDOC = re.compile(r"<<(-?)(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\2")
# Instructions whose leading `--name=value` words are flags, not arguments.
_FLAGGED = frozenset({"FROM", "COPY", "ADD", "RUN", "HEALTHCHECK"})


@dataclass(frozen=True, kw_only=True, slots=True)
class Instruction:
    """One instruction: its keyword, the text after it, and the physical lines it spans.

    `arguments` has continuations joined (escape + newline removed) and comment lines inside
    the continuation dropped, as Docker does. `heredocs` holds the bodies of `<<EOF` documents.
    """

    keyword: str
    arguments: str
    line: int
    end_line: int
    source_line: str  # the first physical line, stripped: what a reader sees at `line`
    heredocs: tuple[str, ...] = ()
    stage_index: int = 0

    @property
    def exec_form(self) -> tuple[str, ...] | None:
        """The JSON (exec) form arguments, or None when this is shell form."""
        text = self.arguments.strip()
        if not text.startswith("["):
            return None
        try:
            value = json.loads(text)
        except ValueError:
            return None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        return None

    def split_flags(self) -> tuple[dict[str, str], str]:
        """The leading `--flag[=value]` words and the rest of the arguments."""
        flags: dict[str, str] = {}
        rest = self.arguments.strip()
        if self.keyword not in _FLAGGED:
            return flags, rest
        while rest.startswith("--"):
            word, _, tail = rest.partition(" ")
            name, _, value = word[2:].partition("=")
            flags[name.lower()] = value
            rest = tail.lstrip()
        return flags, rest

    def words(self) -> list[str]:
        """The arguments after flags as words: the exec form, or a shell-like split."""
        exec_form = self.exec_form
        if exec_form is not None:
            return list(exec_form)
        _, rest = self.split_flags()
        try:
            return shlex.split(rest, comments=False, posix=True)
        except ValueError:  # unbalanced quotes: fall back to whitespace words
            return rest.split()


@dataclass(frozen=True, kw_only=True, slots=True)
class Stage:
    """A build stage: from its `FROM` to the next one."""

    index: int
    name: str | None
    base_image: str
    instructions: tuple[Instruction, ...]

    def last(self, keyword: str) -> Instruction | None:
        """The last instruction with this keyword in the stage (the one Docker uses)."""
        found = [i for i in self.instructions if i.keyword == keyword]
        return found[-1] if found else None

    def env(self) -> dict[str, str]:
        """`ENV` values set in this stage, later ones winning."""
        values: dict[str, str] = {}
        for instruction in self.instructions:
            if instruction.keyword == "ENV":
                values.update(env_pairs(instruction.arguments))
        return values


@dataclass(frozen=True, kw_only=True, slots=True)
class Dockerfile:
    """A parsed Dockerfile. Instructions before the first `FROM` (`ARG`) are in stage 0."""

    instructions: tuple[Instruction, ...]
    stages: tuple[Stage, ...]
    lines: tuple[str, ...]

    @property
    def final_stage(self) -> Stage | None:
        return self.stages[-1] if self.stages else None

    def stage_names(self) -> frozenset[str]:
        return frozenset(s.name.lower() for s in self.stages if s.name)


def env_pairs(arguments: str) -> dict[str, str]:
    """Parse `ENV a=1 b="x y"` and the legacy `ENV a 1 2` form."""
    text = arguments.strip()
    try:
        words = shlex.split(text, posix=True)
    except ValueError:
        words = text.split()
    if not words:
        return {}
    if "=" not in words[0]:  # legacy form: the key, then the rest of the line as the value
        key, _, value = text.partition(" ")
        return {key: value.strip()}
    pairs: dict[str, str] = {}
    for word in words:
        key, sep, value = word.partition("=")
        if sep:
            pairs[key] = value
    return pairs


def parse_dockerfile(text: str) -> Dockerfile:
    """Parse Dockerfile text. Never raises: unknown syntax becomes an instruction as written."""
    lines = text.splitlines()
    escape = _escape_directive(lines)
    instructions: list[Instruction] = []
    index = 0
    stage_index = -1
    while index < len(lines):
        raw = lines[index]
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            index += 1
            continue
        start = index
        parts = [raw]
        # Join continuation lines; comment and blank lines inside a continuation are dropped.
        while _continues(parts[-1], escape) and index + 1 < len(lines):
            index += 1
            following = lines[index]
            if not following.strip() or following.lstrip().startswith("#"):
                parts.append(escape)  # keep the continuation open
                continue
            parts.append(following)
        logical = "".join(_strip_escape(p, escape) for p in parts[:-1]) + parts[-1]
        keyword, _, arguments = logical.strip().partition(" ")
        keyword = keyword.upper()
        end = index
        heredocs: list[str] = []
        for match in _HEREDOC.finditer(arguments) if keyword in {"RUN", "COPY", "ADD"} else ():
            strip_tabs = match.group(1) == "-"
            body: list[str] = []
            while index + 1 < len(lines):
                index += 1
                candidate = lines[index].lstrip("\t") if strip_tabs else lines[index]
                if candidate.rstrip() == match.group(3):
                    break
                body.append(candidate)
            heredocs.append("\n".join(body))
            end = index
        if keyword == "FROM":
            stage_index += 1
        instructions.append(
            Instruction(
                keyword=keyword,
                arguments=arguments.strip(),
                line=start + 1,
                end_line=end + 1,
                source_line=raw.strip(),
                heredocs=tuple(heredocs),
                stage_index=max(stage_index, 0),
            )
        )
        index += 1
    return Dockerfile(
        instructions=tuple(instructions), stages=_stages(instructions), lines=tuple(lines)
    )


def _escape_directive(lines: list[str]) -> str:
    for line in lines:
        match = _DIRECTIVE.match(line.strip())
        if match is None:
            break
        if match.group(1).lower() == "escape" and match.group(2) in {"\\", "`"}:
            return match.group(2)
    return "\\"


def _continues(line: str, escape: str) -> bool:
    return line.rstrip().endswith(escape)


def _strip_escape(line: str, escape: str) -> str:
    text = line.rstrip()
    return text[: -len(escape)] if text.endswith(escape) else text


def _stages(instructions: list[Instruction]) -> tuple[Stage, ...]:
    stages: list[Stage] = []
    for stage_index in sorted({i.stage_index for i in instructions if i.keyword == "FROM"}):
        members = tuple(i for i in instructions if i.stage_index == stage_index)
        start = next(i for i in members if i.keyword == "FROM")
        words = start.words()
        base = words[0] if words else ""
        name = words[2] if len(words) >= 3 and words[1].lower() == "as" else None
        body = tuple(i for i in members if i.line >= start.line)
        stages.append(Stage(index=stage_index, name=name, base_image=base, instructions=body))
    return tuple(stages)
