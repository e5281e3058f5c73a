"""Schema changes between two profiles (DRIFT006): added, removed and retyped columns.

A type is only evidence when the reader saw values: a column with no values at all is typed
by a guess (an all-empty CSV column is read as text, an all-null JSON key as NULL), so it is
reported as 100% missing by the missing-rate test, never as a type change. Text in a column
the reference holds as numbers is measured (the share of values that are not numbers, with
the most frequent of them); numbers or categories that merely changed storage type across
file formats (a Parquet boolean read back from CSV text, `3` stored as `"3"`) are compared
after normalisation and said in a note, not reported as a change.
"""

from __future__ import annotations

from infermedic.drift.profile import ColumnKind, ColumnProfile, DatasetProfile
from infermedic.drift.rules.schema_change import SchemaChange
from infermedic.drift.sources import NUMERIC_TYPES
from infermedic.model import Evidence, EvidenceKind, Finding, Location, Severity


def _has_values(column: ColumnProfile) -> bool:
    return column.rows - column.nulls > 0


def schema_findings(
    reference: DatasetProfile,
    current: DatasetProfile,
    ref_label: str,
    cur_label: str,
    *,
    expected_absent: set[str] | None = None,
) -> tuple[list[Finding], list[str]]:
    """DRIFT006 findings, and notes on type differences that are not changes."""
    rule = SchemaChange()
    out: list[Finding] = []
    notes: list[str] = []
    ref_names = {c.name: c for c in reference.columns}
    cur_names = {c.name: c for c in current.columns}
    skipped = set(reference.excluded) | set(current.excluded)
    action = f"compare column names and types of {ref_label} and {cur_label}"
    for name in ref_names.keys() - cur_names.keys() - skipped - (expected_absent or set()):
        col = ref_names[name]
        out.append(
            rule.finding(
                Location(dataset=cur_label, column_name=name),
                f"column {name!r} ({col.dtype}) is in the reference but not in the current data",
                evidence=(
                    Evidence(
                        kind=EvidenceKind.STATISTIC,
                        action=action,
                        observed=f"{name}: {col.dtype} -> absent",
                    ),
                ),
                fingerprint_key=f"removed:{name}",
            )
        )
    for name in cur_names.keys() - ref_names.keys() - skipped:
        col = cur_names[name]
        out.append(
            rule.finding(
                Location(dataset=cur_label, column_name=name),
                f"column {name!r} ({col.dtype}) is new in the current data",
                evidence=(
                    Evidence(
                        kind=EvidenceKind.STATISTIC,
                        action=action,
                        observed=f"{name}: absent -> {col.dtype}",
                    ),
                ),
                fingerprint_key=f"added:{name}",
            )
        )
    for name in ref_names.keys() & cur_names.keys():
        r, c = ref_names[name], cur_names[name]
        finding, note = _retyped(r, c, cur_label, action)
        if finding is not None:
            out.append(finding)
        if note is not None:
            notes.append(note)
    return sorted(out, key=lambda f: f.location.column_name or ""), sorted(notes)


def _retyped(
    r: ColumnProfile, c: ColumnProfile, cur_label: str, action: str
) -> tuple[Finding | None, str | None]:
    name = r.name
    if r.kind is c.kind and r.dtype == c.dtype and c.unparsed <= r.unparsed:
        return None, None
    if not _has_values(r) or not _has_values(c):
        side, column = ("reference", r) if not _has_values(r) else ("current", c)
        if r.dtype == c.dtype:
            return None, None
        return None, (
            f"column {name!r} has no values in the {side} data, so its type there "
            f"({column.dtype}) is the reader's guess: not a type change"
        )
    rule = SchemaChange()
    loc = Location(dataset=cur_label, column_name=name)
    if r.kind is c.kind and c.unparsed > 0 and c.unparsed * r.rows > r.unparsed * c.rows:
        return _text_in_numbers(r, c, loc, action), None
    if (
        r.kind is c.kind
        and c.kind is ColumnKind.NUMERIC
        and not NUMERIC_TYPES.match(c.dtype.upper())
    ):
        return None, (
            f"column {name!r} holds numbers as text ({r.dtype} -> {c.dtype}); every value "
            "reads as a number, so it is compared as numbers"
        )
    if r.kind is c.kind and c.kind is ColumnKind.CATEGORICAL:
        return None, (
            f"column {name!r} is stored as {r.dtype} in the reference and {c.dtype} in the "
            "current data; its categories are compared after normalising booleans, numbers "
            "and surrounding whitespace"
        )
    severity = Severity.HIGH if r.kind is not c.kind else Severity.LOW
    detail = f"{r.dtype} ({r.kind.value}) -> {c.dtype} ({c.kind.value})"
    finding = rule.finding(
        loc,
        f"column {name!r} changed type: {detail}"
        + ("; its distribution is not compared" if r.kind is not c.kind else ""),
        evidence=(
            Evidence(kind=EvidenceKind.STATISTIC, action=action, observed=f"{name}: {detail}"),
        ),
        severity=severity,
        fingerprint_key=f"retyped:{name}",
    )
    return finding, None


def _text_in_numbers(r: ColumnProfile, c: ColumnProfile, loc: Location, action: str) -> Finding:
    name = r.name
    values = c.rows - c.nulls
    share = c.unparsed / values
    numbers = c.numeric.count if c.numeric is not None else 0
    examples = dict(sorted(c.unparsed_examples.items(), key=lambda kv: (-kv[1], kv[0])))
    shown = ", ".join(f"{k!r} ({_pct(n / values)})" for k, n in list(examples.items())[:5])
    more = c.unparsed - sum(list(examples.values())[:5])
    listed = f" (e.g. {shown}{' and others' if more > 0 else ''})" if shown else ""
    before = (
        f"; {_pct(r.unparsed / (r.rows - r.nulls))} in the reference"
        if r.unparsed and r.rows > r.nulls
        else ""
    )
    return SchemaChange().finding(
        loc,
        f"column {name!r} changed type: {r.dtype} (numbers) -> {c.dtype} (text): "
        f"{_pct(share)} of its {values} values are not numbers{listed}; the {numbers} numbers "
        "among them are still compared",
        evidence=(
            Evidence(
                kind=EvidenceKind.STATISTIC,
                action=f"{action}; read the current values as numbers and count those that are not",
                observed=f"{c.unparsed} of {values} current values are not numbers{before}",
                values={
                    "non_numeric_share": share,
                    "non_numeric_count": c.unparsed,
                    "values": values,
                    "examples": examples,
                    "reference_type": r.dtype,
                    "current_type": c.dtype,
                },
            ),
        ),
        severity=Severity.HIGH,
        fingerprint_key=f"retyped:{name}",
    )


def _pct(share: float) -> str:
    """A share as a percentage that never rounds a few rows down to 0.0%."""
    if share == 0 or share >= 0.001:
        return f"{share:.1%}"
    return f"{share * 100:.2g}%"
