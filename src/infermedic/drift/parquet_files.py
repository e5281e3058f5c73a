"""Parquet footers and single columns, read with the reader `pyarrow.parquet` itself wraps.

`pyarrow.parquet` imports pyarrow's filesystem layer, which on Linux imports `ssl` and
`socket` to find TLS certificates for cloud filesystems: ~30-40 ms of CPU on every drift
run (measured on two busy cores), for local files that never need it. Its `ParquetFile` is a
thin layer over `pyarrow._parquet.ParquetReader`, called here the same way (`open`, then
`read_all` with the column's index). Should a pyarrow release move that class, the public
`pyarrow.parquet` is used instead (a test runs both and compares them).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

try:
    from pyarrow._parquet import ParquetReader as _ParquetReader
except ImportError:  # pragma: no cover - every pyarrow this project supports has it
    _ParquetReader = None


def read_metadata(path: str) -> Any:
    """The footer of the Parquet file at `path` (`pyarrow.parquet.FileMetaData`)."""
    global _ParquetReader
    if _ParquetReader is not None:
        reader = _ParquetReader()
        try:
            reader.open(path, use_memory_map=True)
        except (TypeError, AttributeError):
            # a pyarrow whose private reader takes other arguments: the public API from now on
            _ParquetReader = None
        else:
            try:
                return reader.metadata
            finally:
                reader.close()
    import pyarrow.parquet as pq

    return pq.read_metadata(path)


def read_column(path: str, metadata: Any, name: str, *, dictionary: bool = False) -> pa.Table:
    """One top-level column of the file at `path` as a table, text as a dictionary array
    with `dictionary`. Mapped, the pages are decoded straight from the page cache (15-30%
    less CPU than reads into buffers, measured at 1M rows x 20 doubles); single-threaded,
    since callers read columns on their own threads."""
    read_dictionary = [name] if dictionary else None
    if _ParquetReader is None:
        import pyarrow.parquet as pq

        file = pq.ParquetFile(
            path, metadata=metadata, memory_map=True, read_dictionary=read_dictionary
        )
        try:
            return file.read(columns=[name], use_threads=False)
        finally:
            file.close()
    reader = _ParquetReader()  # one per call: readers are not shared between threads
    reader.open(path, use_memory_map=True, read_dictionary=read_dictionary, metadata=metadata)
    try:
        table: pa.Table = reader.read_all(
            column_indices=[reader.column_name_idx(name)], use_threads=False
        )
        return table
    finally:
        reader.close()
