"""Bounded property tests: the parsers that read what users and services hand us never raise
anything but our own errors, whatever the text.

Each property runs at most 150 examples (a few seconds), so the suite stays fast.
"""

from __future__ import annotations

import contextlib
import json
import math
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infermedic.audit.deps.parsing import (
    parse_pipfile_text,
    parse_pyproject_text,
    parse_requirements_text,
)
from infermedic.drift.profile_file import load_profile
from infermedic.errors import InfermedicError
from infermedic.probe.servertiming import parse_server_timing, read_timing
from infermedic.settings import load_settings

BOUNDED = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# text that looks like what these parsers meet: separators, quotes, numbers, specials
tokens = st.sampled_from(
    [
        "dur=",
        "desc=",
        ";",
        ",",
        '"',
        "=",
        "==",
        ">=",
        "[",
        "]",
        "{",
        "}",
        "\n",
        " ",
        "-e ",
        "-r ",
        "nan",
        "inf",
        "-1",
        "1e308",
        "0.5",
        "numpy",
        "torch",
        "[tool.infermedic]",
        "select",
        "\\",
        "#",
        "@",
        "://",
        "\x00",
        "é",
    ]
)
messy = st.lists(st.one_of(tokens, st.text(max_size=6)), max_size=30).map("".join)


@BOUNDED
@given(messy)
def test_server_timing_never_raises_and_keeps_only_plausible_durations(header: str) -> None:
    for name, duration in parse_server_timing(header):
        assert isinstance(name, str)
        assert math.isfinite(duration) and duration >= 0
    stages, rejected = read_timing({"Server-Timing": header, "x-inference-time": header})
    assert all(math.isfinite(d) and d >= 0 for _, d in stages)
    assert all(isinstance(r, str) for r in rejected)


@BOUNDED
@given(messy)
def test_requirement_files_never_raise(text: str) -> None:
    """A requirements file always parses (bad lines are skipped); a TOML file that is not
    TOML raises the one documented error the audit turns into a note."""
    for parse in (parse_requirements_text, parse_pyproject_text, parse_pipfile_text):
        try:
            parsed = parse(text, "deps.txt")
        except tomllib.TOMLDecodeError:
            assert parse is not parse_requirements_text
            continue
        for requirement in parsed.requirements:
            assert requirement.line >= 1


@BOUNDED
@given(messy)
def test_pyproject_settings_are_read_or_refused_with_one_error(
    tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    path = tmp_path_factory.mktemp("cfg") / "pyproject.toml"
    path.write_text("[tool.infermedic]\n" + text, encoding="utf-8")
    with contextlib.suppress(InfermedicError):
        load_settings(path)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@BOUNDED
@given(json_values)
def test_a_saved_profile_of_any_shape_is_read_or_refused_with_one_error(
    tmp_path_factory: pytest.TempPathFactory, document: object
) -> None:
    path: Path = tmp_path_factory.mktemp("prof") / "reference.profile"
    path.write_text(json.dumps(document, allow_nan=True), encoding="utf-8")
    with contextlib.suppress(InfermedicError):
        load_profile(path)
