"""Find ASGI/WSGI server worker counts in command lines and environment variables.

Shared by the Dockerfile, Procfile, gunicorn config, compose and Kubernetes readers, so the
same command is judged the same way wherever it is written.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

SERVERS = frozenset({"uvicorn", "gunicorn", "hypercorn", "fastapi"})
# Which spellings of the worker flag each server accepts (uvicorn has no `-w`).
_SHORT_W = frozenset({"gunicorn", "hypercorn"})
_SHELLS = frozenset({"sh", "bash", "dash", "ash", "zsh"})
_VARIABLE = re.compile(r"^\$\{?([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}?$")
_CPU_COUNT = re.compile(r"nproc|cpu_count|getconf\s+_NPROCESSORS", re.IGNORECASE)
_OPEN, _CLOSE = "\ue000", "\ue001"  # private-use characters no script contains
_SUBSTITUTION = re.compile(r"\$\(([^()]*)\)")
_OPERATORS = frozenset({"&&", "||", ";", "|", "&", "(", ")", ";;"})


@dataclass(frozen=True, kw_only=True, slots=True)
class WorkerSetting:
    """One place that asks a server for several worker processes."""

    server: str  # "gunicorn", or the variable's name for environment settings
    setting: str  # as written: "--workers 4", "WEB_CONCURRENCY=4"
    workers: int | None  # None when it follows the CPU count
    line: int

    @property
    def describe_count(self) -> str:
        """`4 worker processes`, or the CPU-count wording."""
        if self.workers is None:
            return "one worker process per CPU of the node"
        return f"{self.workers} worker processes"


def worker_count(value: str, env: Mapping[str, str] | None = None) -> tuple[bool, int | None]:
    """Whether `value` asks for several workers, and how many (None: CPU-count based).

    `$VAR`, `${VAR}` and `${VAR:-4}` are resolved from `env`, then from the default; a value
    that cannot be resolved is not judged (precision over recall).
    """
    text = value.strip().strip("\"'")
    if _CPU_COUNT.search(text):
        return True, None
    match = _VARIABLE.match(text)
    if match is not None:
        name, default = match.group(1), match.group(2)
        if env is not None and name in env:
            text = env[name].strip().strip("\"'")
        elif default is not None:
            text = default.strip()
        else:
            return False, None
    if text.isdigit() and int(text) > 1:
        return True, int(text)
    return False, None


def shell_commands(script: str) -> list[list[str]]:
    """Split a shell script into simple commands (words), dropping operators."""
    # `$(nproc)` would split on its parentheses: hide them from the lexer, restore them after.
    script = _SUBSTITUTION.sub(lambda m: f"${_OPEN}{m.group(1)}{_CLOSE}", script)
    lexer = shlex.shlex(script, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    try:
        for token in lexer:
            if token in _OPERATORS or token == "\n":
                commands.append([])
            else:
                commands[-1].append(token.replace(_OPEN, "(").replace(_CLOSE, ")"))
    except ValueError:  # unbalanced quotes: judge nothing rather than guess
        return []
    return [c for c in commands if c]


def settings_in_argv(
    argv: Sequence[tuple[str, int]], env: Mapping[str, str] | None = None
) -> list[WorkerSetting]:
    """Worker settings in one command given as (word, line) pairs.

    Handles `sh -c "<script>"` by reading the script, `python -m uvicorn`, wrappers such
    as `exec`, `poetry run` or `opentelemetry-instrument` before the server, and `fastapi run`.
    """
    words = [w for w, _ in argv]
    for index, word in enumerate(words):
        base = os.path.basename(word)
        if (
            base in _SHELLS
            and index + 2 < len(words)
            and words[index + 1].startswith("-")
            and ("c" in words[index + 1])
        ):
            script, line = argv[index + 2]
            return settings_in_script(script, line, env)
        server = _server_at(words, index)
        if server is not None:
            return _scan_flags(server, argv[index + 1 :], env)
    return []


def settings_in_script(
    script: str, line: int, env: Mapping[str, str] | None = None
) -> list[WorkerSetting]:
    """Worker settings in a shell script whose words all sit on `line`."""
    found: list[WorkerSetting] = []
    for command in shell_commands(script):
        found.extend(settings_in_argv([(w, line) for w in command], env))
    return found


def settings_in_env(
    name: str, value: str, line: int, env: Mapping[str, str] | None = None
) -> list[WorkerSetting]:
    """`WEB_CONCURRENCY` (read by uvicorn and gunicorn) and `GUNICORN_CMD_ARGS`."""
    if name == "WEB_CONCURRENCY":
        several, workers = worker_count(value, env)
        if several:
            return [
                WorkerSetting(server=name, setting=f"{name}={value}", workers=workers, line=line)
            ]
        return []
    if name == "GUNICORN_CMD_ARGS":
        try:
            words = shlex.split(value)
        except ValueError:
            return []
        return [
            WorkerSetting(server=name, setting=f"{name}={value}", workers=s.workers, line=line)
            for s in _scan_flags("gunicorn", [(w, line) for w in words], env)
        ]
    return []


def _server_at(words: Sequence[str], index: int) -> str | None:
    base = os.path.basename(words[index])
    if base in SERVERS:
        if base == "fastapi":
            following = words[index + 1] if index + 1 < len(words) else ""
            return "fastapi" if following == "run" else None
        return base  # also `python -m uvicorn`: the module word is the server's name
    return None


def _scan_flags(
    server: str, argv: Sequence[tuple[str, int]], env: Mapping[str, str] | None
) -> list[WorkerSetting]:
    found: list[WorkerSetting] = []
    for position, (word, line) in enumerate(argv):
        value: str | None = None
        flag = word
        if word == "--workers" or (word == "-w" and server in _SHORT_W):
            if position + 1 < len(argv):
                value = argv[position + 1][0]
                flag = f"{word} {value}"
        elif word.startswith("--workers="):
            value = word.partition("=")[2]
        elif server in _SHORT_W and word.startswith("-w") and len(word) > 2:
            value = word[2:].lstrip("=")
        if value is None:
            continue
        several, workers = worker_count(value, env)
        if several:
            found.append(WorkerSetting(server=server, setting=flag, workers=workers, line=line))
    return found
