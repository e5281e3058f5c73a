"""Category normalisation rules on their own (the file-format tests run them end to end)."""

from __future__ import annotations

import pytest

from infermedic.drift.categories import encoding_mismatch, normal_value, normalise_pair


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("True", "true"),
        (" FALSE ", "false"),
        ("3", "3"),
        ("3.0", "3"),
        (" 3 ", "3"),
        ("3e0", "3"),
        ("-0", "0"),
        ("0.50", "0.5"),
        ("1e20", "1e+20"),  # beyond exact integers: one float spelling
        ("1e300", "1e+300"),
        ("007", "007"),  # a code with leading zeros stays text
        ("12,5", "12,5"),
        ("nan", "nan"),
        ("Yes", "Yes"),  # only true/false are boolean words
        ("  spaced  out ", "spaced  out"),
    ],
)
def test_normal_value(raw: str, normal: str) -> None:
    assert normal_value(raw) == normal


def test_ones_and_zeros_become_booleans_only_against_a_boolean_column() -> None:
    pair = normalise_pair(
        {"true": 30, "false": 70},
        {"1": 40, "0": 60},
        reference_dtype="BOOLEAN",
        current_dtype="BIGINT",
    )
    assert pair.current == {"true": 40, "false": 60}
    assert {(a, b) for a, b, _ in pair.merged} == {("true", "1"), ("false", "0")}
    # a 0/1/2 column is not boolean: 1 and 0 stay numbers
    pair = normalise_pair(
        {"true": 30, "false": 70},
        {"1": 4, "0": 6, "2": 1},
        reference_dtype="BOOLEAN",
        current_dtype="BIGINT",
    )
    assert set(pair.current) == {"0", "1", "2"}
    # two integer columns are never turned into booleans
    pair = normalise_pair(
        {"1": 5, "0": 5}, {"1.0": 5, "0.0": 5}, reference_dtype="BIGINT", current_dtype="VARCHAR"
    )
    assert pair.reference == pair.current == {"1": 5, "0": 5}


def test_spellings_on_one_side_add_up() -> None:
    pair = normalise_pair(
        {"a": 1},
        {"True": 2, "TRUE": 3, "true": 4},
        reference_dtype="VARCHAR",
        current_dtype="VARCHAR",
    )
    assert pair.current == {"true": 9}
    assert pair.merged == ()


def test_identical_raw_values_are_not_reported_as_merged() -> None:
    pair = normalise_pair(
        {"a": 5, "b": 5}, {"a": 4, " b": 6}, reference_dtype="VARCHAR", current_dtype="VARCHAR"
    )
    assert pair.merged == (("b", " b", "b"),)


def test_encoding_mismatch_needs_values_on_both_sides_and_no_overlap() -> None:
    assert encoding_mismatch("c", {"a": 1}, {}) is None
    assert encoding_mismatch("c", {"a": 1, "b": 1}, {"b": 1, "z": 1}) is None
    message = encoding_mismatch("c", {"a": 5, "b": 1}, {"A": 5, "B": 1})
    assert message is not None and "letter case" in message and "'a', 'b'" in message
