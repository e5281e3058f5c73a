"""What the Spark engine reads: files (Parquet, CSV, JSON lines), catalog tables, Delta tables.

Local paths, directories and globs are resolved as the DuckDB engine resolves them (same
errors for a missing or empty input); URIs with a scheme (`s3a://`, `hdfs://`, `abfss://` ...)
go to Spark unchanged, with the format taken from the suffix or a `parquet:`/`csv:`/`json:`
prefix. `table:catalog.db.name` reads a catalog table and `delta:PATH` (or a directory
holding `_delta_log`) a Delta table, which needs Delta Lake's jars in the session.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infermedic.drift.sources import FileFormat, resolve_source
from infermedic.errors import DatasetError, EngineUnavailable, InfermedicError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_FORMAT_PREFIXES = {f"{f.value}:": f for f in FileFormat}
_SUFFIX_FORMATS = {
    ".parquet": FileFormat.PARQUET,
    ".pq": FileFormat.PARQUET,
    ".csv": FileFormat.CSV,
    ".tsv": FileFormat.CSV,
    ".json": FileFormat.JSON,
    ".jsonl": FileFormat.JSON,
    ".ndjson": FileFormat.JSON,
}


@dataclass(frozen=True, kw_only=True)
class SparkSource:
    """One dataset as Spark will read it."""

    label: str  # what the user named
    paths: tuple[str, ...] = ()
    file_format: FileFormat | None = None
    table: str | None = None  # a catalog table name
    delta: bool = False
    json_array: bool = False  # a JSON file holding one array, not JSON lines
    tab_separated: bool = False


def resolve_spark_source(spec: str | Path) -> SparkSource:
    """Resolve what the user named; a clear `DatasetError` when it cannot be read."""
    text = str(spec)
    if text.startswith("table:"):
        name = text.removeprefix("table:").strip()
        if not name:
            raise DatasetError("table: needs a table name", hint="table:catalog.db.name")
        return SparkSource(label=text, table=name)
    if text.startswith("delta:"):
        return SparkSource(label=text, paths=(text.removeprefix("delta:"),), delta=True)
    forced: FileFormat | None = None
    for prefix, file_format in _FORMAT_PREFIXES.items():
        if text.startswith(prefix):
            forced, text = file_format, text.removeprefix(prefix)
            break
    if _SCHEME.match(text) and not text.startswith("file://"):
        # Remote storage: Spark lists and reads it (and reports a missing path itself).
        file_format = forced or _suffix_format(text) or FileFormat.PARQUET
        return SparkSource(
            label=str(spec),
            paths=(text,),
            file_format=file_format,
            tab_separated=text.lower().endswith(".tsv"),
        )
    local = text.removeprefix("file://")
    if Path(local).is_dir() and (Path(local) / "_delta_log").is_dir():
        return SparkSource(label=str(spec), paths=(str(Path(local).resolve()),), delta=True)
    source = resolve_source(local)
    file_format = forced or source.file_format
    files = tuple(str(Path(f).resolve()) for f in source.files)
    json_array = file_format is FileFormat.JSON and _starts_with_array(files[0])
    return SparkSource(
        label=str(spec),
        paths=files,
        file_format=file_format,
        json_array=json_array,
        tab_separated=all(f.lower().removesuffix(".gz").endswith(".tsv") for f in files),
    )


def _suffix_format(text: str) -> FileFormat | None:
    name = text.lower().rstrip("/").removesuffix(".gz")
    return next((f for s, f in _SUFFIX_FORMATS.items() if name.endswith(s)), None)


def _starts_with_array(path: str) -> bool:
    if path.endswith(".gz"):
        return False
    with open(path, "rb") as handle:
        return handle.read(4096).lstrip().startswith(b"[")


def read_source(spark: SparkSession, source: SparkSource) -> DataFrame:
    """A DataFrame over `source`; reading errors become `DatasetError` naming the input."""
    frame: DataFrame
    try:
        if source.table is not None:
            return spark.table(source.table)
        if source.delta:
            return spark.read.format("delta").load(source.paths[0])
        reader: Any = spark.read
        match source.file_format:
            case FileFormat.PARQUET | None:
                frame = reader.option("mergeSchema", "true").parquet(*source.paths)
            case FileFormat.CSV:
                frame = reader.csv(
                    list(source.paths),
                    header=True,
                    inferSchema=True,
                    sep="\t" if source.tab_separated else ",",
                    mode="FAILFAST",
                )
            case FileFormat.JSON:
                frame = reader.json(
                    list(source.paths), multiLine=source.json_array, mode="FAILFAST"
                )
    except Exception as exc:
        if source.delta and "data_source_not_found" in str(exc).lower():
            raise EngineUnavailable(
                f"cannot read {source.label}: this Spark has no Delta Lake data source",
                hint="pip install delta-spark and start Spark with its jars, e.g. --spark-conf "
                "spark.jars.packages=io.delta:delta-spark_2.13:<version matching Spark>",
            ) from exc
        raise spark_failure(source.label, "reading", exc) from exc
    return frame


_JAVA_EXCEPTION = re.compile(r"^:?\s*(?:[a-z]+\.)+[A-Za-z]*(?:Exception|Error):\s*")
_NOISE = ("at ", "An error occurred while calling", "JVM stacktrace")
_DATA_MARKERS = (
    "path_not_found",
    "does not exist",
    "failed_read_file",
    "parquet",
    "malformed",
    "cannot_merge",
    "failed to merge",
    "cast_invalid_input",
    "table_or_view_not_found",
    "schema_not_found",
    "unresolved_column",
    "filenotfound",
)


def spark_message(exc: BaseException) -> str:
    """The line of a Spark/py4j error that says what went wrong (not `An error occurred while
    calling o39.parquet`, not a stack frame), without the Java class prefix."""
    for line in str(exc).splitlines():
        text = line.strip()
        if not text or text.startswith(
            ("at ", "An error occurred while calling", "JVM stacktrace")
        ):
            continue
        return _JAVA_EXCEPTION.sub("", text)[:500]
    return type(exc).__name__


def spark_failure(label: str, what: str, exc: BaseException) -> InfermedicError:
    """A Spark failure as the error it is: bad input (`DatasetError`) or a failed job.

    Anything that is not a Spark, py4j or gRPC error is a bug and is re-raised as it is.
    """
    if isinstance(exc, InfermedicError):
        return exc
    lowered = str(exc).lower()
    if any(marker in lowered for marker in _DATA_MARKERS):
        return spark_dataset_error(label, exc)
    if type(exc).__module__.startswith(("py4j", "pyspark", "grpc")):
        return EngineUnavailable(
            f"Spark job failed while {what} {label}: {spark_message(exc)}",
            hint="an executor may have been lost or run out of memory; see the Spark driver "
            "and executor logs (--spark-conf spark.log.level=WARN shows them here)",
        )
    raise exc


def spark_dataset_error(label: str, exc: BaseException) -> DatasetError:
    """A one-line `DatasetError` from a Spark exception, with a hint where the cause is known."""
    message = spark_message(exc)
    lowered = str(exc).lower()
    hint = None
    if "path_not_found" in lowered or "does not exist" in lowered:
        hint = "the path is not there as the cluster sees it; check it and the executors' access"
    elif "table_or_view_not_found" in lowered or "schema_not_found" in lowered:
        hint = "no such table in the session's catalog; name it as catalog.db.table"
    elif "failed_read_file" in lowered or "corrupt" in lowered:
        hint = "a file is not readable (truncated or corrupt?)"
    elif "malformed" in lowered:
        hint = "a record does not parse; check the file's format, header and delimiter"
    elif "cannot_merge" in lowered or "failed to merge" in lowered:
        hint = "the files disagree on a column's type; profile them separately"
    return DatasetError(f"cannot read {label} on Spark: {message}", hint=hint)


# -- types -----------------------------------------------------------------------------------

_TYPE_NAMES = {
    "double": "DOUBLE",
    "float": "FLOAT",
    "bigint": "BIGINT",
    "int": "INTEGER",
    "smallint": "SMALLINT",
    "tinyint": "TINYINT",
    "string": "VARCHAR",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP WITH TIME ZONE",
    "timestamp_ntz": "TIMESTAMP",
    "binary": "BLOB",
}


def duckdb_type_name(simple_string: str) -> str:
    """Spark's type name in the words the DuckDB engine uses, so profiles from either engine
    compare without spurious type changes (`double` is DOUBLE, `string` VARCHAR ...)."""
    name = simple_string.lower()
    if name in _TYPE_NAMES:
        return _TYPE_NAMES[name]
    if name.startswith("decimal"):
        return name.upper().replace(" ", "")
    if name.startswith(("char", "varchar")):
        return "VARCHAR"
    return name.upper()
