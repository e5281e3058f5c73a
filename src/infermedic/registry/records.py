"""What the registry returned, as frozen records that round-trip through JSON.

Rules read only these (never the MLflow client), so a recorded registry answer is a unit-test
fixture and a saved incident can be judged again without the tracking server.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

DAY_MS = 86_400_000


def iso(ms: int | None) -> str | None:
    """A registry timestamp (epoch milliseconds) as ISO-8601 UTC, for evidence."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="seconds")


@dataclass(frozen=True, kw_only=True, slots=True)
class RunRecord:
    """A tracking run: its metrics (latest value of each), parameters and tags."""

    run_id: str
    run_name: str | None = None
    experiment_id: str | None = None
    status: str | None = None  # FINISHED, FAILED, RUNNING, ...
    start_ms: int | None = None
    end_ms: int | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)

    def label(self) -> str:
        return f"run {self.run_id}" + (f" ({self.run_name})" if self.run_name else "")


@dataclass(frozen=True, kw_only=True, slots=True)
class VersionRecord:
    """One registered model version and the registry's timestamps for it.

    `libraries` are the library versions logged with the version's artifact (its MLmodel
    flavours and requirements.txt), by canonical distribution name; empty when not read.
    """

    name: str
    version: str
    run_id: str | None = None
    source: str | None = None
    status: str | None = None
    creation_ms: int | None = None
    last_updated_ms: int | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    libraries: Mapping[str, str] = field(default_factory=dict)

    @property
    def number(self) -> int:
        return int(self.version) if self.version.isdigit() else -1

    def label(self) -> str:
        return f"{self.name} v{self.version}"


@dataclass(frozen=True, kw_only=True, slots=True)
class RegistrySnapshot:
    """A registered model as the registry saw it at `fetched_ms`: the alias the service
    should follow, where it points, every version (newest first) and their training runs."""

    tracking_uri: str  # redacted
    name: str
    alias: str | None
    alias_version: str | None  # where `alias` points now; None when the alias is unset
    aliases: Mapping[str, str] = field(default_factory=dict)  # alias -> version
    model_last_updated_ms: int | None = None
    versions: tuple[VersionRecord, ...] = ()
    runs: tuple[RunRecord, ...] = ()
    fetched_ms: int = 0

    def version(self, version: str | None) -> VersionRecord | None:
        return next((v for v in self.versions if v.version == version), None)

    def run(self, run_id: str | None) -> RunRecord | None:
        return next((r for r in self.runs if r.run_id == run_id), None)

    @property
    def target(self) -> VersionRecord | None:
        """The version the alias points to now."""
        return self.version(self.alias_version)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tracking_uri": self.tracking_uri,
            "name": self.name,
            "alias": self.alias,
            "alias_version": self.alias_version,
            "aliases": dict(self.aliases),
            "model_last_updated_ms": self.model_last_updated_ms,
            "fetched_ms": self.fetched_ms,
            "versions": [
                {
                    "name": v.name,
                    "version": v.version,
                    "run_id": v.run_id,
                    "source": v.source,
                    "status": v.status,
                    "creation_ms": v.creation_ms,
                    "last_updated_ms": v.last_updated_ms,
                    "tags": dict(v.tags),
                    "aliases": list(v.aliases),
                    "libraries": dict(v.libraries),
                }
                for v in self.versions
            ],
            "runs": [
                {
                    "run_id": r.run_id,
                    "run_name": r.run_name,
                    "experiment_id": r.experiment_id,
                    "status": r.status,
                    "start_ms": r.start_ms,
                    "end_ms": r.end_ms,
                    "metrics": dict(r.metrics),
                    "params": dict(r.params),
                    "tags": dict(r.tags),
                }
                for r in self.runs
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RegistrySnapshot:
        return cls(
            tracking_uri=str(data["tracking_uri"]),
            name=str(data["name"]),
            alias=data.get("alias"),
            alias_version=data.get("alias_version"),
            aliases={str(k): str(v) for k, v in (data.get("aliases") or {}).items()},
            model_last_updated_ms=data.get("model_last_updated_ms"),
            fetched_ms=int(data.get("fetched_ms") or 0),
            versions=tuple(
                VersionRecord(
                    name=str(v["name"]),
                    version=str(v["version"]),
                    run_id=v.get("run_id"),
                    source=v.get("source"),
                    status=v.get("status"),
                    creation_ms=v.get("creation_ms"),
                    last_updated_ms=v.get("last_updated_ms"),
                    tags=dict(v.get("tags") or {}),
                    aliases=tuple(v.get("aliases") or ()),
                    libraries=dict(v.get("libraries") or {}),
                )
                for v in data.get("versions") or ()
            ),
            runs=tuple(
                RunRecord(
                    run_id=str(r["run_id"]),
                    run_name=r.get("run_name"),
                    experiment_id=r.get("experiment_id"),
                    status=r.get("status"),
                    start_ms=r.get("start_ms"),
                    end_ms=r.get("end_ms"),
                    metrics={str(k): float(v) for k, v in (r.get("metrics") or {}).items()},
                    params=dict(r.get("params") or {}),
                    tags=dict(r.get("tags") or {}),
                )
                for r in data.get("runs") or ()
            ),
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class ServedVersion:
    """A model version the running service reported, and where it said so."""

    source: str  # "X-Model-Version response header", "/metrics label model_version", ...
    version: str


@dataclass(frozen=True, kw_only=True, slots=True)
class ResolvedModel:
    """A model URI resolved against the registry, and where its artifact was downloaded."""

    uri: str
    tracking_uri: str  # redacted
    name: str | None
    version: str | None
    alias: str | None
    run_id: str | None
    artifact_path: str  # the local MLflow model directory
    cached: bool  # True when the cache already held it (nothing downloaded)

    def to_dict(self) -> dict[str, Any]:
        return {
            "uri": self.uri,
            "tracking_uri": self.tracking_uri,
            "name": self.name,
            "version": self.version,
            "alias": self.alias,
            "run_id": self.run_id,
            "artifact_path": self.artifact_path,
            "cached": self.cached,
        }
