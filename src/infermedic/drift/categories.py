"""Category values made comparable across file formats before they are compared.

The same category reaches drift spelled differently by each writer and reader: a Parquet
boolean is `true`, a CSV may hold `True`, `TRUE` or `1`; a Parquet integer category is `3`, a
JSONL string `"3"` or `"3.0"`; a CSV cell may carry spaces around its value. Compared raw,
every such category would be "new" in one dataset and "vanished" from the other. Each value
is therefore normalised the same way on both sides (the comparison stays symmetric), and the
report says when the normalisation changed what was compared.

When no category survives into the other dataset even after normalisation, the two datasets
almost certainly encode the column differently (label codes against names, another
language, another case): that is said as such, not reported as drift.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

# A plain decimal number. Leading zeros ("007", "01234") are codes, not numbers: kept as text.
_NUMBER = re.compile(r"^[+-]?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$")
_BOOLEAN_WORDS = frozenset({"true", "false"})
_BOOLEAN_NUMBERS = {"1": "true", "0": "false"}
_EXACT_INTEGER = 2**53  # above this a float no longer holds every integer


def normal_value(value: str) -> str:
    """`value` without surrounding whitespace, booleans lower-cased, numbers in one spelling
    (`3`, `3.0`, ` 3 ` and `3e0` are `3`; `0.50` is `0.5`)."""
    text = value.strip()
    lowered = text.lower()
    if lowered in _BOOLEAN_WORDS:
        return lowered
    if _NUMBER.match(text):
        number = float(text)
        if number.is_integer() and abs(number) < _EXACT_INTEGER:
            return str(int(number))
        return repr(number)
    return text


@dataclass(frozen=True, kw_only=True)
class Normalised:
    """Both sides' counts after normalisation, and what the normalisation merged."""

    reference: dict[str, int]
    current: dict[str, int]
    # raw spellings that met only after normalisation: (reference raw, current raw, normal)
    merged: tuple[tuple[str, str, str], ...]


def _normalise(counts: Mapping[str, int]) -> tuple[dict[str, int], dict[str, set[str]]]:
    out: dict[str, int] = {}
    spellings: dict[str, set[str]] = {}
    for raw, n in counts.items():
        key = normal_value(raw)
        out[key] = out.get(key, 0) + n
        spellings.setdefault(key, set()).add(raw)
    return out, spellings


def _is_boolean(dtype: str, values: Mapping[str, int]) -> bool:
    return dtype.upper() == "BOOLEAN" or (bool(values) and set(values) <= _BOOLEAN_WORDS)


def _as_booleans(
    values: dict[str, int], spellings: dict[str, set[str]]
) -> tuple[dict[str, int], dict[str, set[str]]]:
    out: dict[str, int] = {}
    renamed: dict[str, set[str]] = {}
    for key, n in values.items():
        word = _BOOLEAN_NUMBERS.get(key, key)
        out[word] = out.get(word, 0) + n
        renamed.setdefault(word, set()).update(spellings[key])
    return out, renamed


def normalise_pair(
    reference: Mapping[str, int],
    current: Mapping[str, int],
    *,
    reference_dtype: str,
    current_dtype: str,
) -> Normalised:
    """Normalise both sides' category counts. A 1/0 column meets a boolean one as true/false
    only when one side is boolean and the other holds nothing but 1, 0, true and false."""
    ref, ref_spell = _normalise(reference)
    cur, cur_spell = _normalise(current)
    boolean_like = _BOOLEAN_WORDS | set(_BOOLEAN_NUMBERS)
    if _is_boolean(reference_dtype, ref) and cur and set(cur) <= boolean_like:
        cur, cur_spell = _as_booleans(cur, cur_spell)
    elif _is_boolean(current_dtype, cur) and ref and set(ref) <= boolean_like:
        ref, ref_spell = _as_booleans(ref, ref_spell)
    merged: list[tuple[str, str, str]] = []
    for key in sorted(ref.keys() & cur.keys()):
        if ref_spell[key] & cur_spell[key]:
            continue  # at least one spelling was the same raw value on both sides
        merged.append((sorted(ref_spell[key])[0], sorted(cur_spell[key])[0], key))
    return Normalised(reference=ref, current=cur, merged=tuple(merged))


def encoding_mismatch(
    name: str, reference: Mapping[str, int], current: Mapping[str, int]
) -> str | None:
    """The warning to give when no category is shared (both sides have values), else None."""
    if not reference or not current or reference.keys() & current.keys():
        return None

    def top(counts: Mapping[str, int]) -> str:
        ranked = sorted(counts, key=lambda k: (-counts[k], k))
        shown = ", ".join(repr(k) for k in ranked[:3])
        return shown + (f" and {len(ranked) - 3} more" if len(ranked) > 3 else "")

    folded_ref = {k.casefold() for k in reference}
    folded_cur = {k.casefold() for k in current}
    why = (
        "they differ only in letter case"
        if folded_ref == folded_cur
        else "the two datasets likely encode this column differently (codes vs names, "
        "another writer or file format)"
    )
    return (
        f"column {name!r}: encoding or format difference suspected: none of the "
        f"{len(reference)} reference categories ({top(reference)}) occurs in the current data "
        f"and none of the {len(current)} current ones ({top(current)}) in the reference; {why}. "
        "Its categories are not compared (no drift is reported for them); map the values to "
        "one encoding and compare again"
    )
