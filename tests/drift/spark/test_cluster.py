"""The Spark engine on real clusters started here: a standalone Master + Worker (pyspark's own
`spark-class`, loopback, random ports) and a Spark Connect server. Each is stopped at the end,
also when a test fails."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from infermedic.drift import drift
from infermedic.drift.spark import SparkSettings, drift_on_spark, open_spark_engine
from infermedic.errors import DatasetError, EngineUnavailable

from .conftest import PLANTED, PlantedPair, finding_keys

pytestmark = pytest.mark.spark

START_TIMEOUT_S = 180.0  # JVM starts on a loaded 2-core CI box are slow


def _spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


def _daemon_env() -> dict[str, str]:
    env = dict(os.environ)
    env["SPARK_HOME"] = str(_spark_home())
    env["SPARK_LOCAL_IP"] = "127.0.0.1"  # daemons and executors listen on loopback only
    env.pop("SPARK_REMOTE", None)
    return env


def _launch(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            args,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=_daemon_env(),
            start_new_session=True,  # its own process group: executors go down with it
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def _crash(process: subprocess.Popen[bytes]) -> None:
    """Kill a Worker and its executors at once, as a lost machine would (no graceful stop
    that might let a running executor finish the job), and wait until none is left."""
    import psutil

    family = [process.pid]
    with contextlib.suppress(psutil.NoSuchProcess):
        family += [child.pid for child in psutil.Process(process.pid).children(recursive=True)]
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    for pid in family:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    process.wait(timeout=30)
    psutil.wait_procs([p for p in map(_process_or_none, family) if p is not None], timeout=30)


def _process_or_none(pid: int) -> Any:
    import psutil

    try:
        return psutil.Process(pid)
    except psutil.NoSuchProcess:
        return None


def _wait_for(log: Path, pattern: str, process: subprocess.Popen[bytes]) -> re.Match[str]:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        match = re.search(pattern, text)
        if match:
            return match
        if process.poll() is not None:
            pytest.fail(f"{log.name} exited with {process.returncode} before {pattern!r}:\n{text}")
        time.sleep(0.5)
    pytest.fail(f"{log.name} did not log {pattern!r} in {START_TIMEOUT_S:.0f} s")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True, kw_only=True)
class Standalone:
    url: str  # spark://127.0.0.1:PORT
    worker: subprocess.Popen[bytes]


@pytest.fixture(scope="module")
def standalone(
    spark_available: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Standalone]:
    """A Master with one Worker on loopback, random ports, both stopped at the end."""
    root = tmp_path_factory.mktemp("spark-standalone")
    spark_class = str(_spark_home() / "bin" / "spark-class")
    properties = root / "daemons.conf"
    properties.write_text("spark.master.rest.enabled false\n")
    processes: list[subprocess.Popen[bytes]] = []
    try:
        master_log = root / "master.log"
        master = _launch(
            [
                spark_class,
                "org.apache.spark.deploy.master.Master",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--webui-port",
                "0",
                "--properties-file",
                str(properties),
            ],
            master_log,
        )
        processes.append(master)
        url = _wait_for(master_log, r"Starting Spark master at (spark://127\.0\.0\.1:\d+)", master)[
            1
        ]
        worker_log = root / "worker.log"
        worker = _launch(
            [
                spark_class,
                "org.apache.spark.deploy.worker.Worker",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--webui-port",
                "0",
                "--cores",
                "2",
                "--memory",
                "1g",
                "--work-dir",
                str(root / "work"),
                "--properties-file",
                str(properties),
                url,
            ],
            worker_log,
        )
        processes.append(worker)
        _wait_for(worker_log, r"Successfully registered with master", worker)
        yield Standalone(url=url, worker=worker)
    finally:
        for process in reversed(processes):
            _stop(process)


def test_drift_on_a_standalone_cluster_flags_what_duckdb_flags(
    standalone: Standalone, planted: PlantedPair, tmp_path: Path
) -> None:
    from pyspark import SparkContext

    settings = SparkSettings(
        master=standalone.url,
        conf={"spark.executor.memory": "512m", "spark.cores.max": "2"},
    )
    report = drift_on_spark(planted.reference, planted.current, spark=settings)
    assert report.measurements["engine"]["where"] == f"Spark master {standalone.url}"
    assert finding_keys(report) == finding_keys(drift(planted.reference, planted.current))
    assert finding_keys(report) == PLANTED
    # a job that fails on the cluster is a clear error, and the session is still stopped
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1" + b"\x01" * 64 + b"PAR1")
    with pytest.raises((DatasetError, EngineUnavailable), match="broken.parquet"):
        drift_on_spark(planted.reference, broken, spark=settings)
    assert SparkContext._active_spark_context is None


def test_lost_executors_are_a_clear_error_not_a_hang(
    standalone: Standalone, planted: PlantedPair
) -> None:
    """Runs after the test above: it takes the cluster's only Worker (and its executor) down."""
    from pyspark import SparkContext

    settings = SparkSettings(
        master=standalone.url,
        conf={"spark.executor.memory": "512m", "spark.cores.max": "2"},
        job_timeout_s=8,
    )
    with open_spark_engine(settings) as engine:
        assert engine.spark.range(10).count() == 10  # an executor is up
        _crash(standalone.worker)
        with pytest.raises(EngineUnavailable, match=r"did not finish .* within 8 s") as caught:
            drift_on_spark(planted.reference, planted.current, engine=engine)
        assert caught.value.hint is not None and "executors may have been lost" in caught.value.hint
    assert SparkContext._active_spark_context is None


@pytest.fixture(scope="module")
def connect_server(
    spark_available: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """`sc://127.0.0.1:PORT` of a Spark Connect server (local[2] inside), stopped at the end."""
    pytest.importorskip("grpc", reason="Spark Connect needs pyspark[connect] (grpcio)")
    root = tmp_path_factory.mktemp("spark-connect")
    port = _free_port()
    log = root / "connect.log"
    server = _launch(
        [
            str(_spark_home() / "bin" / "spark-submit"),
            "--class",
            "org.apache.spark.sql.connect.service.SparkConnectServer",
            "--master",
            "local[2]",
            "--conf",
            f"spark.connect.grpc.binding.port={port}",
            "--conf",
            "spark.connect.grpc.binding.address=127.0.0.1",
            "--conf",
            "spark.ui.enabled=false",
            "--conf",
            "spark.driver.bindAddress=127.0.0.1",
        ],
        log,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if server.poll() is not None:
                pytest.fail(f"the Spark Connect server exited:\n{log.read_text(errors='replace')}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"no Spark Connect server on port {port} after {START_TIMEOUT_S} s")
                time.sleep(0.5)
        yield f"sc://127.0.0.1:{port}"
    finally:
        _stop(server)


def test_drift_over_spark_connect_flags_what_duckdb_flags(
    connect_server: str, planted: PlantedPair
) -> None:
    report = drift_on_spark(
        planted.reference, planted.current, spark=SparkSettings(remote=connect_server)
    )
    assert report.measurements["engine"]["where"] == f"Spark Connect {connect_server}"
    assert finding_keys(report) == PLANTED
