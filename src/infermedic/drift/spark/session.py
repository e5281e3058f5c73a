"""SparkSession lifecycle for the Spark drift engine: checks, local/cluster/Connect, always stopped.

Spark needs two things this package does not install: pyspark (the `infermedic[spark]`
extra) and, for a driver in this process (local mode or `--spark-master`), a Java 17+
runtime. Both are checked before a JVM is started, so a missing one is a clear error
that names it instead of a py4j traceback. Spark Connect (`--spark-remote` or
`SPARK_REMOTE`) runs the driver on the server, so it needs no local Java, only the
Connect client libraries.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from infermedic.errors import ConfigError, EngineUnavailable

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

MIN_JAVA = 17
MIN_SPARK = (4, 1)  # `kll_sketch_agg_double` and friends
INSTALL_HINT = "pip install 'infermedic[spark]' (pyspark>=4.1) and a Java 17+ runtime"
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
_CONNECT_MODE_ENV = ("SPARK_CONNECT_MODE_ENABLED", "SPARK_REMOTE", "SPARK_LOCAL_REMOTE")
_JAVA_VERSION = re.compile(r'version "(\d+)(?:\.(\d+))?')


@dataclass(frozen=True, kw_only=True)
class SparkSettings:
    """Where Spark runs: local mode (default), a classic cluster master, or Spark Connect."""

    master: str | None = None  # e.g. spark://host:7077, yarn, k8s://...; None: local[*]
    remote: str | None = None  # sc://host:port; None: $SPARK_REMOTE if set
    conf: Mapping[str, str] = field(default_factory=dict)
    app_name: str = "infermedic-drift"
    job_timeout_s: float | None = None  # cancel a job running longer (lost executors hang)

    def resolved_remote(self) -> str | None:
        return self.remote or os.environ.get("SPARK_REMOTE") or None

    @property
    def where(self) -> str:
        remote = self.resolved_remote()
        if remote:
            return f"Spark Connect {remote}"
        return f"Spark master {self.master or 'local[*]'}"


def parse_conf(pairs: Mapping[str, str] | list[str] | tuple[str, ...]) -> dict[str, str]:
    """`--spark-conf KEY=VALUE` items as a dict; a clear error for an item without `=`."""
    if isinstance(pairs, Mapping):
        return {str(k): str(v) for k, v in pairs.items()}
    conf: dict[str, str] = {}
    for item in pairs:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"--spark-conf {item!r} is not KEY=VALUE",
                hint="for example --spark-conf spark.executor.memory=4g",
            )
        conf[key.strip()] = value
    return conf


# -- checks ----------------------------------------------------------------------------------


def require_pyspark() -> str:
    """pyspark's version; `EngineUnavailable` when it is missing or older than Spark 4.1."""
    if importlib.util.find_spec("pyspark") is None:
        raise EngineUnavailable(
            "the Spark engine needs pyspark, which is not installed", hint=INSTALL_HINT
        )
    from pyspark.version import __version__

    numbers = tuple(int(p) for p in re.findall(r"\d+", __version__)[:2])
    if numbers < MIN_SPARK:
        raise EngineUnavailable(
            f"pyspark {__version__} is too old: the Spark engine needs Spark "
            f"{'.'.join(map(str, MIN_SPARK))}+ for its KLL sketch functions",
            hint=INSTALL_HINT,
        )
    return str(__version__)


def find_java() -> Path:
    """The `java` Spark will start: `$JAVA_HOME/bin/java` when JAVA_HOME is set, else PATH."""
    home = os.environ.get("JAVA_HOME")
    if home:
        candidate = Path(home) / "bin" / "java"
        if not candidate.is_file():
            raise EngineUnavailable(
                f"JAVA_HOME is {home}, but {candidate} does not exist",
                hint="point JAVA_HOME at a Java 17+ installation, or unset it to use java on PATH",
            )
        return candidate
    found = shutil.which("java")
    if found is None:
        raise EngineUnavailable(
            f"the Spark engine needs Java {MIN_JAVA} or newer, and no `java` is on PATH "
            "(JAVA_HOME is not set)",
            hint="install a Java 17+ runtime (e.g. apt-get install openjdk-17-jre-headless) "
            "or use --spark-remote sc://HOST:PORT",
        )
    return Path(found)


def java_major_version(java: Path) -> int:
    """The major version `java -version` reports (`1.8.0_392` is 8, `17.0.15` is 17)."""
    try:
        done = subprocess.run(
            [str(java), "-version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EngineUnavailable(f"cannot run {java} -version: {exc}") from exc
    match = _JAVA_VERSION.search(done.stderr + done.stdout)
    if match is None:
        raise EngineUnavailable(
            f"cannot tell the Java version from `{java} -version`: "
            f"{(done.stderr or done.stdout).strip()[:200]!r}"
        )
    major = int(match.group(1))
    if major == 1 and match.group(2) is not None:
        major = int(match.group(2))
    return major


def require_java() -> tuple[Path, int]:
    java = find_java()
    major = java_major_version(java)
    if major < MIN_JAVA:
        raise EngineUnavailable(
            f"the Spark engine needs Java {MIN_JAVA} or newer; {java} is Java {major}",
            hint="install a Java 17+ runtime and point JAVA_HOME at it",
        )
    return java, major


def require_connect_client() -> None:
    missing = [
        name
        for name, module in (
            ("grpcio", "grpc"),
            ("grpcio-status", "grpc_status"),
            ("googleapis-common-protos", "google.rpc"),
            ("zstandard", "zstandard"),
        )
        if _find(module) is None
    ]
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        raise EngineUnavailable(
            f"Spark Connect needs {', '.join(missing)}, which {verb} not installed",
            hint="pip install 'pyspark[connect]>=4.1'",
        )


def _find(module: str) -> object | None:
    try:
        return importlib.util.find_spec(module)
    except ModuleNotFoundError:  # a parent package is missing
        return None


# -- the session -----------------------------------------------------------------------------


def _is_local(master: str) -> bool:
    if master.startswith("local"):
        return True
    host = urlsplit(master).hostname
    return host in _LOOPBACK


def session_conf(settings: SparkSettings) -> dict[str, str]:
    """The configuration a classic (non-Connect) session starts with; user conf wins."""
    master = settings.master or "local[*]"
    conf = {
        # no web UI port opened behind the user's back, no progress bars on stderr
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.log.level": "ERROR",
    }
    if master.startswith("local"):
        # 200 shuffle partitions is tuned for clusters; the grouped counts here are tiny
        conf["spark.sql.shuffle.partitions"] = str(max(2, 2 * (os.cpu_count() or 1)))
    if _is_local(master):
        # A driver for local mode or a loopback cluster listens on loopback only.
        conf["spark.driver.host"] = "127.0.0.1"
        conf["spark.driver.bindAddress"] = "127.0.0.1"
    conf.update(settings.conf)
    return conf


@contextmanager
def spark_session(settings: SparkSettings | None = None) -> Iterator[SparkSession]:
    """A SparkSession for `settings`, stopped when the block ends, whatever happens in it."""
    settings = settings or SparkSettings()
    require_pyspark()
    remote = settings.resolved_remote()
    if remote and settings.master:
        raise ConfigError(
            "--spark-master and --spark-remote (or SPARK_REMOTE) name two different Spark clusters",
            hint="give one of them",
        )
    # Python workers (if any job needs them) must import this interpreter's packages.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    saved_env = {key: os.environ.get(key) for key in _CONNECT_MODE_ENV}
    with quiet_pandas_warning():
        from pyspark.sql import SparkSession

        builder: Any = SparkSession.builder.appName(settings.app_name)
        if remote:
            require_connect_client()
            builder = builder.remote(remote)
            for key, value in settings.conf.items():
                builder = builder.config(key, value)
        else:
            require_java()
            master = settings.master or "local[*]"
            if _is_local(master):
                os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
            builder = builder.master(master)
            for key, value in session_conf(settings).items():
                builder = builder.config(key, value)
        try:
            session = _start(builder, settings)
        except BaseException:
            _restore(saved_env)
            raise
    try:
        yield session
    finally:
        try:
            session.stop()
        finally:
            _restore(saved_env)


def _restore(saved_env: Mapping[str, str | None]) -> None:
    """A Connect session flips pyspark into Connect mode for the whole process through
    environment variables; put them back so that a later classic session can start."""
    for key, value in saved_env.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@contextmanager
def quiet_pandas_warning() -> Iterator[None]:
    """pyspark 4.x warns when pandas >= 3 is installed (at import, and when the Connect
    client checks its dependencies); no pandas code path is used here."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
        )
        yield


def _start(builder: Any, settings: SparkSettings) -> SparkSession:
    from pyspark.errors import PySparkException

    try:
        session: SparkSession = builder.getOrCreate()
    except (PySparkException, OSError, RuntimeError) as exc:
        raise EngineUnavailable(
            f"cannot start a Spark session on {settings.where}: {_first_line(exc)}",
            hint="check the master/remote URL and that the cluster is up; "
            "local mode needs only Java 17+",
        ) from exc
    except Exception as exc:  # py4j and gRPC errors have no common public base class
        if type(exc).__module__.startswith(("py4j", "grpc")):
            raise EngineUnavailable(
                f"cannot start a Spark session on {settings.where}: {_first_line(exc)}"
            ) from exc
        raise
    return session


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
