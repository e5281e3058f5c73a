"""Python run inline by a container health check: `HEALTHCHECK CMD python -c "..."` in a
Dockerfile, or a compose service's `healthcheck: test: [...]`.

The code is Python the service runs every few seconds, outside any route; the Python rules
read it (SVC004: an HTTP call with no timeout) from here, anchored on the check's line.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass

from infermedic.audit.dockerfile.parser import Dockerfile, Instruction, parse_dockerfile
from infermedic.audit.k8s.loader import get, items, line_of, pairs, parse_yaml_text, text
from infermedic.audit.project import FileKind, SourceFile

_PYTHON = re.compile(r"^(?:.*/)?python[0-9.]*$")
COMPOSE_NAME = re.compile(r"^(docker-)?compose[\w.-]*\.ya?ml$", re.IGNORECASE)


@dataclass(frozen=True, kw_only=True, slots=True)
class InlineCheck:
    """Python code a health check runs with `python -c`."""

    relpath: str
    line: int
    source_line: str  # what a reader sees at `line`
    code: str  # `python -c` code ("" when the check runs a script)
    origin: str  # "HEALTHCHECK" or "compose healthcheck"
    script: str = ""  # `python healthcheck.py`: the script's path as written

    def runs(self, relpath: str) -> bool:
        """Whether the check runs the repo file at `relpath` as its script."""
        script = self.script.lstrip("./")
        if not script:
            return False
        return (
            relpath == script
            or script.endswith("/" + relpath)
            or relpath.rsplit("/", 1)[-1] == script.rsplit("/", 1)[-1]
        )


def inline_python_checks(files: Iterable[SourceFile]) -> tuple[InlineCheck, ...]:
    """Every `python -c` health check in the Dockerfiles and compose files; files that
    cannot be read are skipped here (the file rules report them)."""
    found: list[InlineCheck] = []
    for source in files:
        name = source.relpath.rsplit("/", 1)[-1]
        if source.kind is FileKind.DOCKERFILE:
            found += _dockerfile_checks(source)
        elif source.kind is FileKind.YAML and COMPOSE_NAME.match(name):
            found += _compose_checks(source)
    return tuple(found)


def _read(source: SourceFile) -> str | None:
    try:
        return source.read_text()
    except (OSError, UnicodeDecodeError):
        return None


def _dockerfile_checks(source: SourceFile) -> list[InlineCheck]:
    content = _read(source)
    if content is None or "HEALTHCHECK" not in content.upper():
        return []
    instruction = _image_healthcheck(parse_dockerfile(content))
    if instruction is None:
        return []
    _, rest = instruction.split_flags()
    head, _, command = rest.partition(" ")
    if head.upper() != "CMD":
        return []  # `HEALTHCHECK NONE`
    run = python_run(_command_words(command.strip()))
    if run is None:
        return []
    check = InlineCheck(
        relpath=source.relpath,
        line=instruction.line,
        source_line=instruction.source_line,
        code=run[0],
        script=run[1],
        origin="HEALTHCHECK",
    )
    return [check]


def _image_healthcheck(dockerfile: Dockerfile) -> Instruction | None:
    """The HEALTHCHECK the built image keeps: the final stage's last one, else the one it
    inherits from the earlier stage it is built `FROM`."""
    stages = {s.name.lower(): s for s in dockerfile.stages if s.name}
    stage = dockerfile.final_stage
    seen: set[int] = set()
    while stage is not None and stage.index not in seen:
        seen.add(stage.index)
        found = stage.last("HEALTHCHECK")
        if found is not None:
            return found
        stage = stages.get(stage.base_image.lower())
    return None


def _command_words(command: str) -> list[str]:
    """A command in exec form (`["python", "-c", "..."]`) or shell form, as words."""
    if command.startswith("["):
        try:
            value = json.loads(command)
        except ValueError:
            return []
        return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
    return shell_words(command)


def shell_words(command: str) -> list[str]:
    try:
        return shlex.split(command, comments=False, posix=True)
    except ValueError:
        return []


def python_run(words: list[str]) -> tuple[str, str] | None:
    """What Python a check runs: (code, "") for `python -c CODE`, ("", path) for
    `python path/check.py`; a `CMD-SHELL` string is split first."""
    if words and words[0] in {"CMD-SHELL", "CMD"}:
        words = shell_words(words[1]) if words[0] == "CMD-SHELL" and len(words) == 2 else words[1:]
    for index, word in enumerate(words[:-1]):
        if not _PYTHON.match(word):
            continue
        rest = [w for w in words[index + 1 :] if w not in {"-u", "-B", "-O"}]
        if len(rest) >= 2 and rest[0] == "-c":
            return rest[1], ""
        if rest and rest[0].endswith(".py"):
            return "", rest[0]
    return None


def _compose_checks(source: SourceFile) -> list[InlineCheck]:
    content = _read(source)
    if content is None or "healthcheck" not in content:
        return []
    loaded = parse_yaml_text(content, source.relpath)
    found = []
    for document in loaded.documents:
        for _, service in pairs(get(document.root, "services")):
            test = get(get(service, "healthcheck"), "test")
            if test is None:
                continue
            listed = [t for item in items(test) if (t := text(item)) is not None]
            words = listed or shell_words(text(test) or "")
            run = python_run(words)
            if run is not None:
                line = line_of(test)
                found.append(
                    InlineCheck(
                        relpath=source.relpath,
                        line=line,
                        source_line=document.source_line(line),
                        code=run[0],
                        script=run[1],
                        origin="compose healthcheck",
                    )
                )
    return found
