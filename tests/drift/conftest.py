"""Helpers for drift tests: seeded tables written as real Parquet/CSV/JSONL files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest


@pytest.fixture
def write_parquet(tmp_path: Path) -> Callable[[str, dict[str, object]], Path]:
    def write(name: str, columns: dict[str, object]) -> Path:
        path = tmp_path / name
        pq.write_table(pa.table(columns), path)
        return path

    return write
