"""The Spark drift engine: the same mergeable profiles as the DuckDB engine, built on Spark.

Importing this package does not import pyspark; starting a session checks for it (and for
Java 17+) and says which is missing.
"""

from __future__ import annotations

from infermedic.drift.spark.profile import SparkEngine, open_spark_engine, profile_on_spark
from infermedic.drift.spark.run import drift_on_spark, profile_dataset_on_spark
from infermedic.drift.spark.session import SparkSettings, parse_conf, spark_session
from infermedic.drift.spark.sources import SparkSource, resolve_spark_source

__all__ = [
    "SparkEngine",
    "SparkSettings",
    "SparkSource",
    "drift_on_spark",
    "open_spark_engine",
    "parse_conf",
    "profile_dataset_on_spark",
    "profile_on_spark",
    "resolve_spark_source",
    "spark_session",
]
