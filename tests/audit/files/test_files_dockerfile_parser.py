"""The Dockerfile parser: continuations, comments, heredocs, stages, exec and shell forms."""

from __future__ import annotations

from infermedic.audit.dockerfile.dockerignore import DockerIgnore
from infermedic.audit.dockerfile.parser import env_pairs, parse_dockerfile
from infermedic.audit.dockerfile.servers import (
    settings_in_argv,
    settings_in_env,
    settings_in_script,
    worker_count,
)

MULTI_STAGE = """\
# syntax=docker/dockerfile:1
ARG PYTHON=3.11
FROM python:${PYTHON}-slim AS build
RUN pip install \\
    # comment lines inside a continuation are dropped
    fastapi \\

    uvicorn
FROM build AS test
RUN pytest
from python:3.11-slim
COPY --from=build --chown=app:app /install /usr/local
ENTRYPOINT ["uvicorn"]
CMD ["app.main:app", "--port", "8000"]
"""


def test_instructions_keep_first_and_last_line_across_continuations() -> None:
    dockerfile = parse_dockerfile(MULTI_STAGE)
    spans = [(i.keyword, i.line, i.end_line) for i in dockerfile.instructions]
    assert spans == [
        ("ARG", 2, 2),
        ("FROM", 3, 3),
        ("RUN", 4, 8),
        ("FROM", 9, 9),
        ("RUN", 10, 10),
        ("FROM", 11, 11),
        ("COPY", 12, 12),
        ("ENTRYPOINT", 13, 13),
        ("CMD", 14, 14),
    ]
    run = dockerfile.instructions[2]
    assert run.words() == ["pip", "install", "fastapi", "uvicorn"]
    assert run.source_line == "RUN pip install \\"


def test_stages_have_names_bases_and_their_own_instructions() -> None:
    dockerfile = parse_dockerfile(MULTI_STAGE)
    assert [(s.index, s.name, s.base_image) for s in dockerfile.stages] == [
        (0, "build", "python:${PYTHON}-slim"),
        (1, "test", "build"),
        (2, None, "python:3.11-slim"),
    ]
    final = dockerfile.final_stage
    assert final is not None
    assert [i.keyword for i in final.instructions] == ["FROM", "COPY", "ENTRYPOINT", "CMD"]
    assert dockerfile.stage_names() == {"build", "test"}


def test_exec_form_shell_form_and_flags() -> None:
    dockerfile = parse_dockerfile(MULTI_STAGE)
    copy, entrypoint, cmd = dockerfile.instructions[-3:]
    assert copy.split_flags() == ({"from": "build", "chown": "app:app"}, "/install /usr/local")
    assert copy.words() == ["/install", "/usr/local"]
    assert entrypoint.exec_form == ("uvicorn",)
    assert cmd.exec_form == ("app.main:app", "--port", "8000")
    shell = parse_dockerfile('CMD uvicorn app:app --port "80 00"').instructions[0]
    assert shell.exec_form is None
    assert shell.words() == ["uvicorn", "app:app", "--port", "80 00"]
    broken = parse_dockerfile('CMD ["uvicorn", app]').instructions[0]
    assert broken.exec_form is None  # invalid JSON is shell form, as Docker treats it


def test_heredoc_bodies_are_not_instructions() -> None:
    text = 'FROM python:3.11\nRUN <<EOF\nCOPY models/ /x\npip install x\nEOF\nCMD ["x"]\n'
    dockerfile = parse_dockerfile(text)
    assert [i.keyword for i in dockerfile.instructions] == ["FROM", "RUN", "CMD"]
    run = dockerfile.instructions[1]
    assert (run.line, run.end_line) == (2, 5)
    assert run.heredocs == ("COPY models/ /x\npip install x",)
    assert dockerfile.instructions[2].line == 6


def test_escape_directive_changes_the_continuation_character() -> None:
    text = "# escape=`\nFROM mcr.microsoft.com/windows\nRUN dir `\n    c:\\\n"
    run = parse_dockerfile(text).instructions[1]
    assert (run.line, run.end_line) == (3, 4)
    assert run.arguments.split() == ["dir", "c:\\"]


def test_empty_and_junk_input_parse_to_nothing_without_raising() -> None:
    assert parse_dockerfile("").instructions == ()
    assert parse_dockerfile("\n# only a comment\n").stages == ()
    junk = parse_dockerfile("\x00\x01 binary \\\n")
    assert len(junk.instructions) == 1


def test_env_pairs_both_forms() -> None:
    assert env_pairs('A=1 B="two words" C=') == {"A": "1", "B": "two words", "C": ""}
    assert env_pairs("WORKERS 4") == {"WORKERS": "4"}
    assert env_pairs("GREETING hello world") == {"GREETING": "hello world"}


def test_worker_counts() -> None:
    assert worker_count("4") == (True, 4)
    assert worker_count("1") == (False, None)
    assert worker_count("$WORKERS", {"WORKERS": "3"}) == (True, 3)
    assert worker_count("${WORKERS:-2}") == (True, 2)
    assert worker_count("$WORKERS") == (False, None)
    assert worker_count("$(nproc)") == (True, None)


def test_worker_settings_in_commands() -> None:
    argv = [(w, 7) for w in ["gunicorn", "-k", "uvicorn.workers.UvicornWorker", "-w", "4", "a:b"]]
    (found,) = settings_in_argv(argv)
    assert (found.server, found.setting, found.workers, found.line) == ("gunicorn", "-w 4", 4, 7)
    # uvicorn has no `-w`; `-w 4` after uvicorn is not its worker flag
    assert settings_in_argv([(w, 1) for w in ["uvicorn", "a:b", "-w", "4"]]) == []
    assert settings_in_argv([(w, 1) for w in ["celery", "worker", "--workers", "4"]]) == []
    scripted = settings_in_script("cd /srv && exec uvicorn a:b --workers=3; echo done", 2)
    assert [(s.server, s.workers) for s in scripted] == [("uvicorn", 3)]
    assert settings_in_script("uvicorn 'unbalanced", 1) == []
    (env,) = settings_in_env("GUNICORN_CMD_ARGS", "--bind :80 -w 6", 3)
    assert env.workers == 6
    assert settings_in_env("WEB_CONCURRENCY", "1", 3) == []


def test_dockerignore_matching() -> None:
    ignore = DockerIgnore.parse("# c\nmodels/\n!models/README.md\n**/*.pt\n/data/*.pkl\n")
    assert ignore.excludes("models/churn.joblib")
    assert not ignore.excludes("models/README.md")
    assert ignore.excludes("a/b/weights.pt")
    assert ignore.excludes("weights.pt")
    assert ignore.excludes("data/enc.pkl")
    assert not ignore.excludes("data/nested/enc.pkl")
    assert not ignore.excludes("app/models.py")
