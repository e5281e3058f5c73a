"""The MLflow registry, read through MLflow's own client, with bounded retries and one-line
errors; model artifacts are downloaded to a cache keyed by version.

mlflow is imported lazily, only when a registry is used: the base install stays light, and a
missing client is an `EngineUnavailable` with the install hint. Credentials in the tracking
URI are taken out of it (passed as MLflow's username/password variables) and remembered as
secrets, so neither MLflow's messages nor ours can show them.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from infermedic.errors import ConfigError, EngineUnavailable, RegistryError
from infermedic.redact import redact_url, remember_secret, strip_userinfo
from infermedic.registry.records import (
    RegistrySnapshot,
    ResolvedModel,
    RunRecord,
    VersionRecord,
)
from infermedic.registry.uri import ModelUri, UriKind, parse_model_uri

T = TypeVar("T")
INSTALL_HINT = "pip install 'infermedic[registry]' (or mlflow-skinny for the client alone)"
MAX_VERSIONS = 200  # versions read per model: enough history, bounded calls
_LIBRARY_FILES = ("MLmodel", "requirements.txt")


def cache_root() -> Path:
    """Where downloaded artifacts are kept: `INFERMEDIC_CACHE_DIR`, else the XDG cache."""
    explicit = os.environ.get("INFERMEDIC_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "infermedic"


def tracking_uri_from(given: str | None, options_uri: str | None = None) -> str:
    """The tracking server to use: `--tracking-uri`, `[tool.infermedic.registry]
    tracking-uri`, else `MLFLOW_TRACKING_URI`; never MLflow's silent local `./mlruns`."""
    uri = given or options_uri or os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        raise ConfigError(
            "no model registry to ask: the tracking server is not named",
            hint="give --tracking-uri URL or set MLFLOW_TRACKING_URI",
        )
    return check_tracking_uri(uri)


_SCHEMES = (
    "http",
    "https",
    "databricks",
    "databricks-uc",
    "uc",
    "sqlite",
    "postgresql",
    "mysql",
    "mssql",
    "file",
)


def check_tracking_uri(uri: str) -> str:
    """`uri` when it can name a tracking server; a `ConfigError` otherwise (no network is
    touched). A `sqlite:` database must exist: reading a registry never creates one."""
    from urllib.parse import urlsplit

    plain = strip_userinfo(uri)[0]
    shown = redact_url(uri)
    try:
        parts = urlsplit(plain)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as exc:
        raise ConfigError(f"tracking URI {shown!r} is not a URL: {exc}") from None
    scheme = parts.scheme.split("+")[0].lower()
    if scheme not in _SCHEMES:
        raise ConfigError(
            f"tracking URI {shown!r} has no scheme MLflow reads",
            hint="give http(s)://HOST:PORT, databricks, or sqlite:///PATH/mlflow.db",
        )
    if scheme == "sqlite" and not Path(parts.path[1:]).is_file():
        raise ConfigError(
            f"tracking URI {shown!r} names no existing database",
            hint="check the path: reading a registry never creates one",
        )
    return uri


@dataclass(frozen=True, kw_only=True)
class RegistryClient:
    """One tracking server. `timeout_s` bounds each HTTP request and `retries` how often
    MLflow retries it (its defaults, 120 s and 7 retries, take many minutes to give up)."""

    tracking_uri: str
    timeout_s: float = 10.0
    retries: int = 2
    cache: Path | None = None

    @property
    def shown_uri(self) -> str:
        return redact_url(self.tracking_uri)

    # --- reading the registry ----------------------------------------------------------

    def snapshot(
        self, name: str, alias: str | None, *, extra_versions: Sequence[str] = ()
    ) -> RegistrySnapshot:
        """The registered model, where `alias` points, its versions, and the training runs
        and logged libraries of the alias target and of `extra_versions` (the served ones)."""
        with self._mlflow() as client:
            model, aliases = self._model(client, name, alias)
            found = self._call(
                lambda: client.search_model_versions(
                    f"name = '{_quoted(name)}'",
                    max_results=MAX_VERSIONS,
                    order_by=["version_number DESC"],
                ),
                what=f"the versions of {name!r}",
            )
            by_version: dict[str, list[str]] = {}
            for key, value in aliases.items():
                by_version.setdefault(value, []).append(key)
            target = aliases.get(alias) if alias is not None else None
            wanted = {v for v in (target, *extra_versions) if v}
            versions: list[VersionRecord] = []
            runs: dict[str, RunRecord] = {}
            for raw in found:
                number = str(raw.version)
                libraries: dict[str, str] = {}
                if number in wanted:
                    libraries = self._logged_libraries(name, number, raw.run_id)
                    if raw.run_id and raw.run_id not in runs:
                        run = self._run(client, raw.run_id)
                        if run is not None:
                            runs[raw.run_id] = run
                versions.append(
                    VersionRecord(
                        name=name,
                        version=number,
                        run_id=raw.run_id or None,
                        source=raw.source,
                        status=raw.status,
                        creation_ms=raw.creation_timestamp,
                        last_updated_ms=raw.last_updated_timestamp,
                        tags=dict(raw.tags or {}),
                        aliases=tuple(sorted(by_version.get(number, ()))),
                        libraries=libraries,
                    )
                )
            # an evaluation run the gate names (a tag on the version) is read too
            for version in versions:
                for value in version.tags.values():
                    if (
                        version.version in wanted
                        and _looks_like_run_id(value)
                        and value not in runs
                    ):
                        run = self._run(client, value, missing_ok=True)
                        if run is not None:
                            runs[value] = run
            return RegistrySnapshot(
                tracking_uri=self.shown_uri,
                name=name,
                alias=alias,
                alias_version=target,
                aliases=aliases,
                model_last_updated_ms=getattr(model, "last_updated_timestamp", None),
                versions=tuple(versions),
                runs=tuple(runs.values()),
                fetched_ms=int(time.time() * 1000),
            )

    def latest_version(self, name: str) -> str:
        """The version `models:/NAME/latest` loads now: MLflow takes the highest version
        number of the model (across stages), which is the first by `version_number`."""
        with self._mlflow() as client:
            found = self._call(
                lambda: client.search_model_versions(
                    f"name = '{_quoted(name)}'", max_results=1, order_by=["version_number DESC"]
                ),
                what=f"the versions of {name!r}",
            )
        if not found:
            raise RegistryError(
                f"model {name!r} has no versions in the registry at {self.shown_uri}",
                hint="check the model name (the MLflow UI lists the registered models)",
            )
        return str(found[0].version)

    def check_alias(self, name: str, alias: str | None) -> None:
        """Fail fast (one `RegistryError`) when the server, the model or the alias is not
        there, before a long check starts."""
        with self._mlflow() as client:
            self._model(client, name, alias)

    def _model(self, client: Any, name: str, alias: str | None) -> tuple[Any, dict[str, str]]:
        model = self._call(lambda: client.get_registered_model(name), what=f"model {name!r}")
        aliases = {str(k): str(v) for k, v in (getattr(model, "aliases", None) or {}).items()}
        if alias is not None and alias not in aliases:
            known = ", ".join(f"@{a}" for a in sorted(aliases)) or "none"
            raise RegistryError(
                f"model {name!r} has no alias @{alias} in the registry at {self.shown_uri}",
                hint=f"its aliases: {known}",
            )
        return model, aliases

    def _run(self, client: Any, run_id: str, *, missing_ok: bool = False) -> RunRecord | None:
        try:
            run = self._call(lambda: client.get_run(run_id), what=f"run {run_id}")
        except RegistryError:
            if missing_ok:
                return None
            raise
        info, data = run.info, run.data
        return RunRecord(
            run_id=info.run_id,
            run_name=getattr(info, "run_name", None),
            experiment_id=str(info.experiment_id),
            status=str(info.status),
            start_ms=info.start_time,
            end_ms=info.end_time,
            metrics={str(k): float(v) for k, v in (data.metrics or {}).items()},
            params={str(k): str(v) for k, v in (data.params or {}).items()},
            tags={str(k): str(v) for k, v in (data.tags or {}).items()},
        )

    def _logged_libraries(self, name: str, version: str, run_id: str | None) -> dict[str, str]:
        """The library versions a version's artifact records (MLmodel flavours and
        requirements.txt), by distribution name; only those two small files are fetched."""
        from infermedic.registry.libraries import logged_libraries

        directory = self._cache_dir("meta", name, _version_key(version, run_id))
        if not (directory / "MLmodel").is_file():
            with tempfile.TemporaryDirectory(dir=directory.parent) as scratch:
                for file_name in _LIBRARY_FILES:
                    with contextlib.suppress(RegistryError):  # a model may lack requirements
                        self._download(f"models:/{name}/{version}/{file_name}", Path(scratch))
                if (Path(scratch) / "MLmodel").is_file():
                    _replace_dir(Path(scratch), directory)
        return logged_libraries(directory) if directory.is_dir() else {}

    # --- resolving and downloading a model URI ------------------------------------------

    def resolve(self, text: str) -> ResolvedModel:
        """Resolve a `models:/` or `runs:/` URI to a version and download its artifact to
        the cache (once per version)."""
        uri = parse_model_uri(text)
        with self._mlflow() as client:
            name, version, alias, run_id = self._resolve(client, uri)
            # a version number can come back after a delete: the run is part of the key
            key = (
                ("run", run_id or "", uri.path or "")
                if version is None
                else ("models", name or "", _version_key(version, run_id))
            )
            directory = self._cache_dir(*key)
            if (directory / "MLmodel").is_file():
                return _resolved(uri, self.shown_uri, name, version, alias, run_id, directory, True)
            source = f"models:/{name}/{version}" if version is not None else uri.text
            with tempfile.TemporaryDirectory(dir=directory.parent) as scratch:
                # runs:/RUN/PATH lands in scratch/PATH: MLflow returns where it put it
                local = self._download(source, Path(scratch))
                if not (local / "MLmodel").is_file():
                    raise RegistryError(
                        f"{uri.text} downloaded, but it is not an MLflow model (no MLmodel file)",
                        hint="name the model's artifact path (runs:/RUN_ID/model)",
                    )
                _replace_dir(local, directory)
        return _resolved(uri, self.shown_uri, name, version, alias, run_id, directory, False)

    def _resolve(
        self, client: Any, uri: ModelUri
    ) -> tuple[str | None, str | None, str | None, str | None]:
        match uri.kind:
            case UriKind.ALIAS:
                assert uri.name is not None and uri.alias is not None
                got = self._call(
                    lambda: client.get_model_version_by_alias(uri.name, uri.alias),
                    what=f"alias @{uri.alias} of model {uri.name!r}",
                )
                return uri.name, str(got.version), uri.alias, got.run_id or None
            case UriKind.VERSION:
                assert uri.name is not None and uri.version is not None
                got = self._call(
                    lambda: client.get_model_version(uri.name, uri.version),
                    what=f"version {uri.version} of model {uri.name!r}",
                )
                return uri.name, str(got.version), None, got.run_id or None
            case UriKind.RUN:
                assert uri.run_id is not None
                self._call(lambda: client.get_run(uri.run_id), what=f"run {uri.run_id}")
                return None, None, None, uri.run_id

    def _download(self, artifact_uri: str, destination: Path) -> Path:
        import mlflow.artifacts

        try:
            path = mlflow.artifacts.download_artifacts(
                artifact_uri=artifact_uri,
                dst_path=str(destination),
                tracking_uri=self._plain_uri,
                registry_uri=self._plain_uri,
            )
        except Exception as exc:  # MLflow raises its own, requests' and OSError here
            raise RegistryError(
                f"cannot download {artifact_uri} from {self.shown_uri}: {_first_line(exc)}",
                hint="check the artifact store is reachable from here and that you may read it",
            ) from exc
        return Path(path)

    def _cache_dir(self, *parts: str) -> Path:
        root = self.cache or cache_root()
        server = hashlib.sha256(self._plain_uri.encode()).hexdigest()[:12]
        directory = root / "registry" / server / Path(*[_safe(p) for p in parts if p])
        try:
            directory.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"cannot create the model cache {directory.parent}: {exc.strerror or exc}",
                hint="set INFERMEDIC_CACHE_DIR to a writable directory",
            ) from exc
        return directory

    # --- the MLflow client, bounded --------------------------------------------------------

    @property
    def _plain_uri(self) -> str:
        return strip_userinfo(self.tracking_uri)[0]

    @contextlib.contextmanager
    def _mlflow(self) -> Iterator[Any]:
        try:
            from mlflow import MlflowClient
        except ImportError as exc:
            raise EngineUnavailable(
                "reading the model registry needs mlflow, which is not installed",
                hint=INSTALL_HINT,
            ) from exc
        plain, user, password = strip_userinfo(self.tracking_uri)
        remember_secret(password)
        env = {
            "MLFLOW_HTTP_REQUEST_TIMEOUT": str(max(1, round(self.timeout_s))),
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(self.retries),
            "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
            "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        }
        # MLflow resolves a models:/ artifact URI with its default client (the environment's
        # server), whatever tracking_uri it is given: the server asked here must be that one,
        # or it asks a new ./mlflow.db in the user's directory and finds nothing
        env["MLFLOW_TRACKING_URI"] = plain
        env["MLFLOW_REGISTRY_URI"] = plain
        if user is not None:
            env["MLFLOW_TRACKING_USERNAME"] = user
            env["MLFLOW_TRACKING_PASSWORD"] = password or ""
        with mlflow_environment(env):
            client = self._call(
                lambda: MlflowClient(tracking_uri=plain, registry_uri=plain), what="a client"
            )
            yield client

    def _call(self, call: Callable[[], T], *, what: str) -> T:
        try:
            return call()
        except Exception as exc:  # MLflow wraps HTTP and connection errors in its own
            raise self._error(exc, what) from exc

    def _error(self, exc: Exception, what: str) -> RegistryError:
        code = str(getattr(exc, "error_code", "") or "")
        text = _first_line(exc)
        where = self.shown_uri
        if code in {"PERMISSION_DENIED", "UNAUTHENTICATED"} or any(
            s in text for s in (" 401", " 403", "Unauthorized", "Forbidden")
        ):
            return RegistryError(
                f"the registry at {where} refused to show {what} (permission denied)",
                hint="set MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and "
                "MLFLOW_TRACKING_PASSWORD, for an account that may read it",
            )
        if code == "RESOURCE_DOES_NOT_EXIST" or "not found" in text.lower():
            return RegistryError(
                f"{what} does not exist in the registry at {where}",
                hint="check the name, version or alias (the MLflow UI lists them)",
            )
        if any(
            s in text
            for s in (
                "Max retries exceeded",
                "Connection refused",
                "Failed to establish",
                "timed out",
                "Name or service not known",
                "ConnectionError",
            )
        ):
            cause = text.split(" Max retries exceeded")[0][:160].rstrip(" :")
            return RegistryError(
                f"the tracking server at {where} cannot be reached ({cause})",
                hint="check --tracking-uri / MLFLOW_TRACKING_URI and that the server is up",
            )
        return RegistryError(f"the registry at {where} failed to return {what}: {text[:240]}")


@contextlib.contextmanager
def mlflow_environment(values: dict[str, str]) -> Iterator[None]:
    """MLflow reads its HTTP limits, server and credentials from the environment at call
    time; a limit the user set wins, the server and credentials asked for here always do,
    and everything is put back afterwards."""
    saved = {key: os.environ.get(key) for key in values}
    for key, value in values.items():
        if key not in os.environ or key.startswith(("MLFLOW_TRACKING_", "MLFLOW_REGISTRY_")):
            os.environ[key] = value
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def _resolved(
    uri: ModelUri,
    shown: str,
    name: str | None,
    version: str | None,
    alias: str | None,
    run_id: str | None,
    directory: Path,
    cached: bool,
) -> ResolvedModel:
    return ResolvedModel(
        uri=uri.text,
        tracking_uri=shown,
        name=name,
        version=version,
        alias=alias,
        run_id=run_id,
        artifact_path=str(directory),
        cached=cached,
    )


def _replace_dir(source: Path, target: Path) -> None:
    """Move a finished download into place; a concurrent run that got there first wins."""
    staged = Path(tempfile.mkdtemp(dir=target.parent, prefix=".incoming-"))
    for child in source.iterdir():
        shutil.move(str(child), staged / child.name)
    try:
        staged.rename(target)
    except OSError:
        shutil.rmtree(staged, ignore_errors=True)


def _version_key(version: str, run_id: str | None) -> str:
    return f"{version}-{run_id[:12]}" if run_id else version


def _safe(part: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in part) or "_"


def _quoted(name: str) -> str:
    return name.replace("'", "\\'")


def _looks_like_run_id(value: str) -> bool:
    return len(value) == 32 and all(c in "0123456789abcdef" for c in value)


def _first_line(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return text[:300] if text else type(exc).__name__
