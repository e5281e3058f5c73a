"""DRIFT006 schema-change: columns were added, removed or changed type between reference and "
"current data."""

from __future__ import annotations

from collections.abc import Iterable

from infermedic.drift.observations import ColumnSchema, DriftObservations
from infermedic.drift.rules.base import DriftRule
from infermedic.model import (
    Evidence,
    EvidenceKind,
    Finding,
    Location,
    Notification,
    NotificationLevel,
    Severity,
)


class SchemaChange(DriftRule):
    """## What it does
    Checks for columns present in only one of the two datasets, and for columns whose kind
    (numeric vs text) or storage type differs between them.

    ## Why is this bad?
    When a column disappears the serving code usually fills a default; when it turns from
    numbers into text, parsing falls back silently. Either way the model sees constant or
    garbage input for that feature while nothing errors.

    ## How it's measured
    Compares the column names and DuckDB types of the two datasets (or of the saved
    profile). Added and removed columns and a change between numeric and categorical are high
    severity; a storage type change within numbers (BIGINT to DOUBLE) is low. When a column
    the reference holds as numbers is read as text, its values are read as numbers and those
    that are not numbers are counted: the finding (high) gives their share and the most
    frequent of them, and the numbers left are still compared. Not a change: a type guessed
    for a column with no values (an all-empty CSV column is 100% missing, DRIFT005), numbers
    stored as text that all read as numbers, and categories stored as another type by another
    file format (compared after normalising booleans, numbers and whitespace); each is a note.
    Columns left out on purpose (`--exclude`, identifiers, timestamps) are not compared. No
    minimum sample.
    """

    code = "DRIFT006"
    name = "schema-change"
    severity = Severity.HIGH
    summary = "Columns were added, removed or changed type between reference and current data."
    fix = (
        "Align the producer and the model's expected schema (add the column back, rename it, or "
        "fix its type); validate the request schema in the service so a mismatch fails loudly."
    )
    risk = (
        "A removed or retyped column usually means the model is being fed defaults or garbage for "
        "that feature."
    )
    checklist = ()

    def check(self, observations: DriftObservations) -> Iterable[Finding | Notification]:
        """DRIFT006 findings, then a note per type difference it let pass."""
        findings, notes = self._judge(observations)
        return [
            *findings,
            *(Notification(level=NotificationLevel.NOTE, message=note) for note in notes),
        ]

    def _judge(self, observations: DriftObservations) -> tuple[list[Finding], list[str]]:
        """DRIFT006 findings, and notes on type differences that are not changes.

        A type is only evidence when the reader saw values: a column with no values at all is
        typed by a guess (an all-empty CSV column is read as text, an all-null JSON key as
        NULL), so it is reported as 100% missing by DRIFT005, never as a type change.
        """
        reference, current = observations.reference, observations.current
        out: list[Finding] = []
        notes: list[str] = []
        ref_names = {c.name: c for c in reference.columns}
        cur_names = {c.name: c for c in current.columns}
        skipped = set(reference.excluded) | set(current.excluded)
        action = f"compare column names and types of {reference.label} and {current.label}"
        removed = ref_names.keys() - cur_names.keys() - skipped - set(observations.absent_targets)
        for name in removed:
            col = ref_names[name]
            out.append(
                self.finding(
                    Location(dataset=current.label, column_name=name),
                    f"column {name!r} ({col.dtype}) is in the reference but not in the current "
                    "data",
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
                self.finding(
                    Location(dataset=current.label, column_name=name),
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
        location = {n: Location(dataset=current.label, column_name=n) for n in cur_names}
        for name in ref_names.keys() & cur_names.keys():
            finding, note = self._retyped(ref_names[name], cur_names[name], location[name], action)
            if finding is not None:
                out.append(finding)
            if note is not None:
                notes.append(note)
        return sorted(out, key=lambda f: f.location.column_name or ""), sorted(notes)

    def _retyped(
        self, r: ColumnSchema, c: ColumnSchema, loc: Location, action: str
    ) -> tuple[Finding | None, str | None]:
        name = r.name
        if r.kind == c.kind and r.dtype == c.dtype and c.unparsed <= r.unparsed:
            return None, None
        if not r.has_values or not c.has_values:
            side, column = ("reference", r) if not r.has_values else ("current", c)
            if r.dtype == c.dtype:
                return None, None
            return None, (
                f"column {name!r} has no values in the {side} data, so its type there "
                f"({column.dtype}) is the reader's guess: not a type change"
            )
        if r.kind == c.kind and c.unparsed > 0 and c.unparsed * r.rows > r.unparsed * c.rows:
            return self._text_in_numbers(r, c, loc, action), None
        if r.kind == c.kind == "numeric" and not c.numeric_type:
            return None, (
                f"column {name!r} holds numbers as text ({r.dtype} -> {c.dtype}); every value "
                "reads as a number, so it is compared as numbers"
            )
        if r.kind == c.kind == "categorical":
            return None, (
                f"column {name!r} is stored as {r.dtype} in the reference and {c.dtype} in the "
                "current data; its categories are compared after normalising booleans, numbers "
                "and surrounding whitespace"
            )
        detail = f"{r.dtype} ({r.kind}) -> {c.dtype} ({c.kind})"
        return self.finding(
            loc,
            f"column {name!r} changed type: {detail}"
            + ("; its distribution is not compared" if r.kind != c.kind else ""),
            evidence=(
                Evidence(kind=EvidenceKind.STATISTIC, action=action, observed=f"{name}: {detail}"),
            ),
            severity=Severity.HIGH if r.kind != c.kind else Severity.LOW,
            fingerprint_key=f"retyped:{name}",
        ), None

    def _text_in_numbers(
        self, r: ColumnSchema, c: ColumnSchema, loc: Location, action: str
    ) -> Finding:
        name = r.name
        values = c.rows - c.nulls
        share = c.unparsed / values
        examples = dict(sorted(c.unparsed_examples.items(), key=lambda kv: (-kv[1], kv[0])))
        shown = ", ".join(f"{k!r} ({_pct(n / values)})" for k, n in list(examples.items())[:5])
        more = c.unparsed - sum(list(examples.values())[:5])
        listed = f" (e.g. {shown}{' and others' if more > 0 else ''})" if shown else ""
        before = (
            f"; {_pct(r.unparsed / (r.rows - r.nulls))} in the reference"
            if r.unparsed and r.rows > r.nulls
            else ""
        )
        return self.finding(
            loc,
            f"column {name!r} changed type: {r.dtype} (numbers) -> {c.dtype} (text): "
            f"{_pct(share)} of its {values} values are not numbers{listed}; the {c.numbers} "
            "numbers among them are still compared",
            evidence=(
                Evidence(
                    kind=EvidenceKind.STATISTIC,
                    action=f"{action}; read the current values as numbers and count those that "
                    "are not",
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
