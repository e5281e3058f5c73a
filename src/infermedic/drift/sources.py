"""Where drift data comes from: paths, directories, globs of Parquet, CSV and JSONL, via DuckDB.

A `DataSource` resolves what the user named into files and one DuckDB table expression; the
column plan (`plan_columns`) decides which columns are compared and how (numeric or
categorical), and which are left out and why. Nothing is read into Python memory here.
"""

from __future__ import annotations

import enum
import glob
import gzip
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infermedic.drift.profile import ColumnKind
from infermedic.errors import DatasetError


class FileFormat(enum.StrEnum):
    PARQUET = "parquet"
    CSV = "csv"
    JSON = "json"


_SUFFIXES: dict[str, FileFormat] = {
    ".parquet": FileFormat.PARQUET,
    ".pq": FileFormat.PARQUET,
    ".csv": FileFormat.CSV,
    ".tsv": FileFormat.CSV,
    ".jsonl": FileFormat.JSON,
    ".ndjson": FileFormat.JSON,
    ".json": FileFormat.JSON,
}
_COMPRESSIONS = (".gz", ".zst")
# Names that say nothing about the format: their content decides (Parquet magic, JSON, CSV).
_GENERIC_SUFFIXES = frozenset({"", ".txt", ".dat", ".data", ".log", ".out"})

# Columns that the prediction logs of `infermedic.instrument` (and most serving logs) carry
# besides features: identifiers and clocks change every row and would only add noise.
LOG_METADATA_COLUMNS = frozenset(
    {
        "time",
        "timestamp",
        "ts",
        "event_time",
        "created_at",
        "request_id",
        "id",
        "uuid",
        "trace_id",
        "span_id",
        "model_version",
    }
)
NUMERIC_TYPES = re.compile(
    r"^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT"
    r"|FLOAT|DOUBLE|REAL|DECIMAL(\(\d+,\s*\d+\))?)$"
)
TEXT_TYPES = re.compile(r"^(VARCHAR|ENUM.*|BOOLEAN|JSON)$")
TIME_TYPES = re.compile(r"^(TIMESTAMP.*|DATE|TIME.*|INTERVAL)$")


@dataclass(frozen=True, kw_only=True)
class DataSource:
    """Files of one format that together form one dataset."""

    label: str  # what the user named
    files: tuple[str, ...]
    file_format: FileFormat

    def table_sql(self, *, sample_all: bool = False) -> str:
        """The DuckDB table function reading these files. `sample_all` types the columns of
        CSV and JSON from every row instead of the first 20,480 (one more pass over the data;
        needed when a value further in does not fit the type the sample suggested)."""
        files = "[" + ", ".join(_quote(f) for f in self.files) + "]"
        sample = ", sample_size=-1" if sample_all else ""
        match self.file_format:
            case FileFormat.PARQUET:
                # can_have_nan: Parquet statistics exclude NaN and DuckDB would otherwise
                # optimise isnan()/isfinite() filters away (duckdb #25521).
                return f"read_parquet({files}, union_by_name=true, can_have_nan=true)"
            case FileFormat.CSV:
                return f"read_csv({files}, union_by_name=true, header=true{sample})"
            case FileFormat.JSON:
                return f"read_json({files}, union_by_name=true, format='auto'{sample})"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _format_of(path: Path) -> FileFormat | None:
    name = path.name.lower()
    for compression in _COMPRESSIONS:
        name = name.removesuffix(compression)
    return _SUFFIXES.get(Path(name).suffix)


def _sniff(path: Path) -> FileFormat:
    with path.open("rb") as handle:
        head = handle.read(4096)
    if head.startswith(b"PAR1"):
        return FileFormat.PARQUET
    if head.lstrip().startswith((b"{", b"[")):
        return FileFormat.JSON
    return FileFormat.CSV


def _no_published_files(path: Path, text: str) -> None:
    """A directory whose only data files are a prediction logger's files in progress
    (`.<name>.jsonl.tmp`): say so, since they turn into data once the logger publishes them."""
    pending = [
        p
        for p in path.rglob(".*.tmp")
        if p.is_file() and _format_of(Path(p.name[1:].removesuffix(".tmp"))) is not None
    ]
    if pending:
        raise DatasetError(
            f"directory {text} holds only {len(pending)} file(s) still being written "
            f"({pending[0].name}): a prediction logger publishes a file when it is rotate_s "
            "seconds old (30 by default), on flush() and when the service shuts down",
            hint="wait for the logger to publish, call PredictionLogger.flush(), or stop the "
            "service, then run drift again",
        )


def resolve_source(spec: str | Path) -> DataSource:
    """Resolve a path, directory or glob into a `DataSource`; a clear `DatasetError` otherwise."""
    text = str(spec)
    path = Path(text)
    if path.is_dir():
        candidates = sorted(
            p
            for p in path.rglob("*")
            if p.is_file() and not p.name.startswith(".") and _format_of(p) is not None
        )
        if not candidates:
            _no_published_files(path, text)
            raise DatasetError(
                f"directory {text} holds no Parquet, CSV or JSONL files",
                hint="name files *.parquet, *.csv or *.jsonl (optionally .gz)",
            )
    elif path.is_file():
        if _format_of(path) is None and path.suffix.lower() not in _GENERIC_SUFFIXES:
            raise DatasetError(
                f"{text} is not a Parquet, CSV or JSONL file (its name ends in {path.suffix})",
                hint="name data files *.parquet, *.csv or *.jsonl (a .txt or .dat file is read "
                "as CSV)",
            )
        candidates = [path]
    elif any(ch in text for ch in "*?["):
        candidates = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
        if not candidates:
            raise DatasetError(f"no files match {text}")
    else:
        raise DatasetError(f"{text} does not exist", hint="give a file, a directory or a glob")
    formats = {(_format_of(p) or _sniff(p)) for p in candidates}
    if len(formats) > 1:
        raise DatasetError(
            f"{text} mixes file formats ({', '.join(sorted(f.value for f in formats))})",
            hint="point at files of one format, e.g. a glob like 'logs/*.parquet'",
        )
    empty = [str(p) for p in candidates if p.stat().st_size == 0]
    if empty:
        raise DatasetError(f"{empty[0]} is empty (0 bytes)")
    file_format = formats.pop()
    for candidate in candidates[:WIDTH_CHECKED_FILES]:
        width = _width(candidate, file_format)
        if width is not None and width > MAX_COLUMNS:
            raise DatasetError(
                f"{candidate} has about {width} columns; drift compares at most {MAX_COLUMNS}",
                hint="write the model's features to their own file first (a one-line header "
                "without newline, or a wrong delimiter, also reads as one very wide row)",
            )
    return DataSource(label=text, files=tuple(str(p) for p in candidates), file_format=file_format)


# Reading a header of hundreds of thousands of columns takes DuckDB minutes and gigabytes
# before the first row (an 800 KB one-line CSV ran out of a 2-minute budget at 2 GB): such a
# file is refused up front, from its first line or its Parquet footer.
MAX_COLUMNS = 5_000
WIDTH_CHECKED_FILES = 100  # a directory of many files: the first ones stand for the rest
_HEAD_BYTES = 4 << 20
_DELIMITERS = (b",", b";", b"\t", b"|")


def _first_line(path: Path) -> bytes:
    opener: Any = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            head = bytearray()
            while len(head) < _HEAD_BYTES:
                chunk = handle.read(1 << 16)
                if not chunk:
                    break
                head += chunk
                if b"\n" in chunk:
                    break
    except (OSError, EOFError, gzip.BadGzipFile):
        return b""  # unreadable here: the reader reports it with its own words
    return bytes(head.split(b"\n", 1)[0])


def _width(path: Path, file_format: FileFormat) -> int | None:
    """About how many columns `path` has (None when it cannot tell cheaply)."""
    if path.name.lower().endswith(".zst"):
        return None
    if file_format is FileFormat.PARQUET:
        from infermedic.drift.parquet_files import read_metadata

        try:
            return int(read_metadata(str(path)).num_columns)
        except Exception:  # a corrupt footer: DuckDB reports it when it reads the file
            return None
    line = _first_line(path)
    if file_format is FileFormat.CSV:
        return 1 + max(line.count(d) for d in _DELIMITERS)
    # JSON lines: every key of a flat object is `"name":`; nested keys only add to it
    return line.count(b'":')


@dataclass(frozen=True, kw_only=True)
class ColumnOptions:
    """What the user said about columns (names as in the data)."""

    categorical: frozenset[str] = frozenset()
    exclude: frozenset[str] = frozenset()
    ids: frozenset[str] = frozenset()
    timestamps: frozenset[str] = frozenset()
    predictions: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class ColumnPlan:
    """Which columns are compared, as what, and which are left out (with the reason)."""

    kinds: Mapping[str, ColumnKind]
    dtypes: Mapping[str, str]
    excluded: Mapping[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()  # things worth a notification (mixed types ...)
    # Left out by a guess about this data alone (looks like an identifier, a type with no
    # values to compare), not by the user: a reference that compared the column overrides it.
    guessed: frozenset[str] = frozenset()


def physical_kind(dtype: str) -> ColumnKind | None:
    """The kind a column of this DuckDB type is compared as, or None when it is not comparable."""
    upper = dtype.upper()
    if NUMERIC_TYPES.match(upper):
        return ColumnKind.NUMERIC
    if TEXT_TYPES.match(upper) or upper == "UUID":
        return ColumnKind.CATEGORICAL
    return None


def is_untyped(dtype: str) -> bool:
    """A column the reader could not type because it holds no values (an all-null JSON key)."""
    return dtype.strip('"').upper() == "NULL"


def is_text(dtype: str) -> bool:
    """Text the reader could not type as numbers (VARCHAR, JSON): may hold numbers as text."""
    return dtype.upper() in {"VARCHAR", "JSON"}


def plan_columns(
    schema: Sequence[tuple[str, str]],
    options: ColumnOptions,
    text_stats: Mapping[str, tuple[int, int, int]],
    rows: int,
    *,
    max_categories: int,
) -> ColumnPlan:
    """Decide each column's kind.

    `text_stats[name]` is (non-null count, approximate distinct count, count castable to a
    number) for text columns. A text column whose distinct values exceed `max_categories`
    and half its rows looks like an identifier and is left out, with the reason.
    """
    named = set(options.categorical) | set(options.predictions) | set(options.targets)
    kinds: dict[str, ColumnKind] = {}
    dtypes: dict[str, str] = {}
    excluded: dict[str, str] = {}
    notes: list[str] = []
    guessed: set[str] = set()
    for name, dtype in schema:
        dtypes[name] = dtype
        upper = dtype.upper()
        if name in options.exclude:
            excluded[name] = "excluded by --exclude"
        elif name in options.ids:
            excluded[name] = "an identifier (--id)"
        elif name in options.timestamps:
            excluded[name] = "a timestamp (--timestamp)"
        elif name.lower() in LOG_METADATA_COLUMNS and name not in named:
            excluded[name] = (
                "a log identifier/clock column (name it in --categorical to compare it)"
            )
        elif TIME_TYPES.match(upper) and name not in named:
            excluded[name] = f"a timestamp ({dtype})"
            guessed.add(name)  # the reader's guess: `inf` or `2024-01-01` text reads as a date
        elif upper == "UUID" and name not in options.categorical:
            excluded[name] = "an identifier (UUID)"
        elif name in options.categorical:
            kinds[name] = ColumnKind.CATEGORICAL
        elif (kind := physical_kind(dtype)) is None:
            excluded[name] = f"type {dtype} is not compared (only numbers, text and booleans)"
            if is_untyped(dtype):
                guessed.add(name)
        elif kind is ColumnKind.CATEGORICAL and name in text_stats:
            present, distinct, numeric = text_stats[name]
            if present > 0 and 0 < numeric < present:
                notes.append(
                    f"column {name!r} mixes types: {numeric} of {present} values are numbers, the "
                    "rest text; it is read as text (clean it, or --exclude it)"
                )
            if distinct > max_categories and distinct > 0.5 * max(rows, 1) and name not in named:
                excluded[name] = (
                    f"looks like an identifier ({distinct} distinct of {present} values; "
                    "name it in --categorical to compare it)"
                )
                guessed.add(name)
            else:
                kinds[name] = kind
        else:
            kinds[name] = kind
    # a target may be absent from production data (labels arrive later); compare decides
    missing = (named - set(options.targets) | set(options.exclude)) - {name for name, _ in schema}
    if missing:
        raise DatasetError(
            f"column(s) named in options not found: {', '.join(sorted(missing))}",
            hint="available: " + ", ".join(name for name, _ in schema),
        )
    return ColumnPlan(
        kinds=kinds,
        dtypes=dtypes,
        excluded=excluded,
        notes=tuple(notes),
        guessed=frozenset(guessed),
    )
