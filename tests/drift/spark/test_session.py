"""Spark engine checks that run before any JVM: Java and pyspark detection, options, sources."""

from __future__ import annotations

import importlib.util
import stat
from pathlib import Path

import pytest

from infermedic.drift.spark import session as spark_session_module
from infermedic.drift.spark.session import (
    SparkSettings,
    java_major_version,
    parse_conf,
    require_java,
    require_pyspark,
    session_conf,
    spark_session,
)
from infermedic.drift.spark.sources import duckdb_type_name, resolve_spark_source
from infermedic.errors import ConfigError, DatasetError, EngineUnavailable


def _fake_java(root: Path, banner: str) -> Path:
    """A `java` that prints `banner` as `java -version` does (on stderr)."""
    java = root / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text(f"#!/bin/sh\necho '{banner}' >&2\n")
    java.chmod(java.stat().st_mode | stat.S_IEXEC)
    return java


@pytest.mark.parametrize(
    ("banner", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15', 17),
        ('openjdk version "21" 2023-09-19', 21),
        ('java version "1.8.0_392"', 8),
        ('openjdk version "11.0.2" 2019-01-15', 11),
    ],
)
def test_java_major_version_reads_both_numbering_schemes(
    tmp_path: Path, banner: str, major: int
) -> None:
    assert java_major_version(_fake_java(tmp_path, banner)) == major


def test_old_java_is_refused_with_its_version_and_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    java = _fake_java(tmp_path, 'openjdk version "11.0.2" 2019-01-15')
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    with pytest.raises(EngineUnavailable) as caught:
        require_java()
    assert "Java 17 or newer" in str(caught.value)
    assert f"{java} is Java 11" in str(caught.value)


def test_missing_java_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EngineUnavailable, match="no `java` is on PATH") as caught:
        require_java()
    assert caught.value.hint is not None and "--spark-remote" in caught.value.hint


def test_java_home_without_java_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "nowhere"))
    with pytest.raises(EngineUnavailable, match="JAVA_HOME is .*nowhere"):
        require_java()


def test_missing_pyspark_is_named_before_java(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None) -> object:
        return None if name == "pyspark" else real_find_spec(name, package)

    monkeypatch.setattr(spark_session_module.importlib.util, "find_spec", find_spec)
    monkeypatch.setenv("PATH", str(tmp_path))  # and no Java either: pyspark is named first
    missing = "needs pyspark, which is not installed"
    with pytest.raises(EngineUnavailable, match=missing) as caught, spark_session():
        pass
    assert caught.value.hint is not None and "infermedic[spark]" in caught.value.hint


def test_pyspark_version_is_at_least_the_one_with_kll_sketches() -> None:
    if importlib.util.find_spec("pyspark") is None:
        pytest.skip("pyspark is not installed")
    version = require_pyspark()
    assert tuple(int(p) for p in version.split(".")[:2]) >= (4, 1)


def test_master_and_remote_together_are_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    if importlib.util.find_spec("pyspark") is None:
        pytest.skip("pyspark is not installed")
    settings = SparkSettings(master="spark://127.0.0.1:7077", remote="sc://127.0.0.1:15002")
    with pytest.raises(ConfigError, match="two different Spark clusters"), spark_session(settings):
        pass


def test_spark_remote_env_var_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARK_REMOTE", "sc://10.0.0.1:15002")
    assert SparkSettings().resolved_remote() == "sc://10.0.0.1:15002"
    assert SparkSettings().where == "Spark Connect sc://10.0.0.1:15002"


def test_parse_conf_needs_key_value() -> None:
    assert parse_conf(["spark.executor.memory=4g", "a=b=c"]) == {
        "spark.executor.memory": "4g",
        "a": "b=c",
    }
    with pytest.raises(ConfigError, match="not KEY=VALUE"):
        parse_conf(["spark.executor.memory"])


def test_local_and_loopback_drivers_bind_loopback_and_user_conf_wins() -> None:
    local = session_conf(SparkSettings(conf={"spark.sql.shuffle.partitions": "7"}))
    assert local["spark.driver.bindAddress"] == "127.0.0.1"
    assert local["spark.ui.enabled"] == "false"
    assert local["spark.sql.shuffle.partitions"] == "7"
    loopback = session_conf(SparkSettings(master="spark://127.0.0.1:7077"))
    assert loopback["spark.driver.host"] == "127.0.0.1"
    remote_cluster = session_conf(SparkSettings(master="spark://spark-master.internal:7077"))
    assert "spark.driver.host" not in remote_cluster


def test_sources_resolve_tables_uris_and_local_files(tmp_path: Path) -> None:
    assert resolve_spark_source("table:main.ml.predictions").table == "main.ml.predictions"
    uri = resolve_spark_source("s3a://bucket/logs/day=1/part-0.jsonl")
    assert uri.paths == ("s3a://bucket/logs/day=1/part-0.jsonl",)
    assert uri.file_format is not None and uri.file_format.value == "json"
    assert resolve_spark_source("csv:hdfs://nn/data/ref").file_format.value == "csv"  # type: ignore[union-attr]
    (tmp_path / "delta" / "_delta_log").mkdir(parents=True)
    assert resolve_spark_source(tmp_path / "delta").delta
    with pytest.raises(DatasetError, match="does not exist"):
        resolve_spark_source(tmp_path / "missing.parquet")


def test_spark_type_names_match_the_duckdb_engine() -> None:
    assert [duckdb_type_name(t) for t in ("double", "bigint", "string", "boolean")] == [
        "DOUBLE",
        "BIGINT",
        "VARCHAR",
        "BOOLEAN",
    ]
    assert duckdb_type_name("decimal(18,3)") == "DECIMAL(18,3)"
