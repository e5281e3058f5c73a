"""Flask debug mode switched on outside Python: `ENV FLASK_DEBUG=1` (or the older
`FLASK_ENV=development`) in a Dockerfile, a compose service's `environment`, a Procfile
line, or `flask --debug run` as the command.

Each switch records whether the same image, compose service or Procfile line serves the
app with Flask's development server (`flask run`), where debug mode brings the interactive
debugger; under gunicorn or uwsgi it only turns `app.debug` on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from infermedic.audit.dockerfile.healthchecks import COMPOSE_NAME, shell_words
from infermedic.audit.dockerfile.parser import (
    Dockerfile,
    Instruction,
    Stage,
    env_pairs,
    parse_dockerfile,
)
from infermedic.audit.k8s.loader import get, items, line_of, pairs, parse_yaml_text, text
from infermedic.audit.project import FileKind, SourceFile

_TRUE = frozenset({"1", "true", "yes", "on"})


@dataclass(frozen=True, kw_only=True, slots=True)
class DebugSwitch:
    relpath: str
    line: int
    source_line: str
    setting: str  # `FLASK_DEBUG=1`, `flask --debug run`
    dev_server: bool  # the same container or process runs `flask run`


def debug_switches(files: Iterable[SourceFile]) -> tuple[DebugSwitch, ...]:
    found: list[DebugSwitch] = []
    for source in files:
        name = source.relpath.rsplit("/", 1)[-1]
        try:
            if source.kind is FileKind.DOCKERFILE:
                found += _dockerfile(source.relpath, source.read_text())
            elif source.kind is FileKind.YAML and COMPOSE_NAME.match(name):
                found += _compose(source.relpath, source.read_text())
            elif source.kind is FileKind.PROCFILE:
                found += _procfile(source.relpath, source.read_text())
        except (OSError, UnicodeDecodeError):
            continue  # the file rules report what cannot be read
    return tuple(found)


def debug_setting(key: str, value: str) -> str | None:
    """`FLASK_DEBUG=1` or `FLASK_ENV=development` as written, else None."""
    if key == "FLASK_DEBUG" and value.strip().strip("\"'").lower() in _TRUE:
        return f"{key}={value}"
    if key == "FLASK_ENV" and value.strip().strip("\"'").lower() == "development":
        return f"{key}={value}"
    return None


def _debug_flag(words: list[str]) -> bool:
    """`flask --debug run`, `flask run --debug`, `python -m flask run --debug`."""
    return "flask" in words and "--debug" in words


def _dev_server(words: list[str]) -> bool:
    return "flask" in words and "run" in words[words.index("flask") :]


def _dockerfile(relpath: str, content: str) -> list[DebugSwitch]:
    if "FLASK" not in content.upper():
        return []
    dockerfile = parse_dockerfile(content)
    chain = _stage_chain(dockerfile)
    command = next(
        (i for stage in chain for key in ("CMD", "ENTRYPOINT") if (i := stage.last(key))), None
    )
    words = _command_words(command) if command is not None else []
    dev = _dev_server(words)
    found = []
    for stage in reversed(chain):  # base stages first: their ENV is inherited
        for instruction in stage.instructions:
            if instruction.keyword != "ENV":
                continue
            for key, value in env_pairs(instruction.arguments).items():
                setting = debug_setting(key, value)
                if setting is not None:
                    found.append(_switch(relpath, instruction, setting, dev))
    if command is not None and _debug_flag(words):
        found.append(_switch(relpath, command, "flask --debug run", dev))
    return found


def _stage_chain(dockerfile: Dockerfile) -> list[Stage]:
    """The final stage and the earlier stages it is built `FROM`, final first."""
    named = {s.name.lower(): s for s in dockerfile.stages if s.name}
    chain: list[Stage] = []
    stage = dockerfile.final_stage
    while stage is not None and stage not in chain:
        chain.append(stage)
        stage = named.get(stage.base_image.lower())
    return chain


def _command_words(instruction: Instruction) -> list[str]:
    words = instruction.words()
    if len(words) >= 3 and words[0].endswith("sh") and words[1] == "-c":
        return shell_words(words[2])
    return [w.rsplit("/", 1)[-1] for w in words]


def _switch(relpath: str, instruction: Instruction, setting: str, dev: bool) -> DebugSwitch:
    return DebugSwitch(
        relpath=relpath,
        line=instruction.line,
        source_line=instruction.source_line,
        setting=setting,
        dev_server=dev,
    )


def _compose(relpath: str, content: str) -> list[DebugSwitch]:
    if "FLASK" not in content.upper():
        return []
    found = []
    for document in parse_yaml_text(content, relpath).documents:
        for _, service in pairs(get(document.root, "services")):
            command_node = get(service, "command")
            listed = [t for item in items(command_node) if (t := text(item)) is not None]
            words = listed or shell_words(text(command_node) or "")
            dev = _dev_server(words)
            environment = get(service, "environment")
            entries = [(k, text(v) or "", line_of(v)) for k, v in pairs(environment)]
            for item in items(environment):
                key, _, value = (text(item) or "").partition("=")
                entries.append((key, value, line_of(item)))
            for key, value, line in entries:
                setting = debug_setting(key, value)
                if setting is not None:
                    found.append(
                        DebugSwitch(
                            relpath=relpath,
                            line=line,
                            source_line=document.source_line(line),
                            setting=setting,
                            dev_server=dev,
                        )
                    )
            if command_node is not None and _debug_flag(words):
                line = line_of(command_node)
                found.append(
                    DebugSwitch(
                        relpath=relpath,
                        line=line,
                        source_line=document.source_line(line),
                        setting="flask --debug run",
                        dev_server=dev,
                    )
                )
    return found


def _procfile(relpath: str, content: str) -> list[DebugSwitch]:
    found = []
    for number, raw in enumerate(content.splitlines(), start=1):
        _, _, command = raw.partition(":")
        words = shell_words(command)
        settings = [
            s for w in words if "=" in w and (s := debug_setting(*w.split("=", 1))) is not None
        ]
        if _debug_flag(words):
            settings.append("flask --debug run")
        found += [
            DebugSwitch(
                relpath=relpath,
                line=number,
                source_line=raw.strip(),
                setting=setting,
                dev_server=_dev_server(words),
            )
            for setting in settings
        ]
    return found
