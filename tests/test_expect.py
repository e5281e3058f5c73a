"""The `# expect:` parser and matcher used by every rule fixture."""

from __future__ import annotations

import pytest

from infermedic.model import Finding, Location, Severity
from tests.expect import (
    Expectation,
    compare,
    fixture_code,
    fixture_options,
    fixture_path,
    is_ok_fixture,
    parse_expectations,
    parse_expected_list,
)


def finding(
    line: int | None,
    code: str = "SVC001",
    column: int | None = 5,
    message: str = "`model.predict` blocks",
    path: str = "app.py",
) -> Finding:
    return Finding(
        code=code,
        name="x",
        severity=Severity.HIGH,
        message=message,
        location=Location(path=path, line=line, column=column),
    )


def test_trailing_own_line_stacked_and_file_expectations() -> None:
    text = (
        "x = model.predict(X)  # expect: SVC001\n"
        '# expect: 5 SVC003 "event loop"\n'
        "# expect: SVC004\n"
        "\n"
        "requests.get(url)\n"
        "y = 1  # expect: SVC001, 3 SVC002  # known-false-positive: why\n"
        "# expect-file: DKR005\n"
    )
    assert parse_expectations(text, "app.py") == [
        Expectation(path="app.py", line=1, code="SVC001", written_at=1),
        Expectation(
            path="app.py", line=5, code="SVC003", column=5, text="event loop", written_at=2
        ),
        Expectation(path="app.py", line=5, code="SVC004", written_at=3),
        Expectation(path="app.py", line=6, code="SVC001", written_at=6),
        Expectation(path="app.py", line=6, code="SVC002", column=3, written_at=6),
        Expectation(path="app.py", line=None, code="DKR005", written_at=7),
    ]


def test_dockerfile_allows_only_own_line_comments() -> None:
    assert (
        parse_expectations(
            "# expect: DKR001\nCOPY model.pkl /m\n", "Dockerfile", own_line_only=True
        )[0].line
        == 2
    )
    with pytest.raises(ValueError, match="own-line"):
        parse_expectations(
            "COPY model.pkl /m  # expect: DKR001\n", "Dockerfile", own_line_only=True
        )


@pytest.mark.parametrize(
    "bad", ["x  # expect: svc001\n", "x  # expect: SVC001 SVC002\n", "# expect: SVC001\n"]
)
def test_malformed_expectations_fail_loudly(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_expectations(bad, "app.py")


def test_compare_is_an_exact_multiset() -> None:
    expected = [
        Expectation(path="app.py", line=3, code="SVC001"),
        Expectation(path="app.py", line=3, code="SVC001"),
    ]
    assert compare(expected, [finding(3), finding(3)]) == []
    assert compare(expected, [finding(3)]) == ["missing: app.py:3 SVC001 (written at line 0)"]
    assert compare(expected[:1], [finding(3), finding(4)]) == [
        "unexpected: app.py:4:5 SVC001 `model.predict` blocks"
    ]


def test_column_and_message_must_match_when_given() -> None:
    assert (
        compare([Expectation(path="app.py", line=3, code="SVC001", column=6)], [finding(3)]) != []
    )
    assert (
        compare([Expectation(path="app.py", line=3, code="SVC001", text="predict")], [finding(3)])
        == []
    )
    assert (
        compare([Expectation(path="app.py", line=3, code="SVC001", text="proba")], [finding(3)])
        != []
    )
    assert (
        compare(
            [Expectation(path="app.py", line=None, code="SVC001")], [finding(None, column=None)]
        )
        == []
    )


def test_fixture_names_options_and_paths() -> None:
    assert fixture_code("SVC001_sync_def.py") == "SVC001"
    assert fixture_code("DKR002.Procfile") == "DKR002"
    assert fixture_code("README.md") is None
    assert is_ok_fixture("SVC001_ok.py") and is_ok_fixture("MON002_watchdog_ok.yaml")
    assert not is_ok_fixture("SVC001.py") and not is_ok_fixture("SVC001_okay.py")
    assert fixture_options("# infermedic-options: {threshold = 0.9, names = ['a']}\n") == {
        "threshold": 0.9,
        "names": ["a"],
    }
    assert fixture_options("x = 1\n") == {}
    assert fixture_path("# fixture-path: monitoring/alerts.yaml\n") == "monitoring/alerts.yaml"
    assert parse_expected_list("a/b.json:3 MON004\nc.tfstate:- REP001  # whole file\n") == [
        Expectation(path="a/b.json", line=3, code="MON004", written_at=1),
        Expectation(path="c.tfstate", line=None, code="REP001", written_at=2),
    ]
