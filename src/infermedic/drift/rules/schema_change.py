"""DRIFT006 schema-change: columns were added, removed or changed type between reference and "
"current data."""

from __future__ import annotations

from infermedic.model import Severity
from infermedic.rules import Rule


class SchemaChange(Rule):
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
    measured = True
