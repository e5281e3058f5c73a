"""What a registry rule reads: the registry's answer, the versions the service reported,
the serving repo's pins, and the options; and the base class of the rules."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from infermedic.model import Evidence, EvidenceKind, Finding, Location, Notification, Severity
from infermedic.registry.options import RegistryOptions
from infermedic.registry.records import (
    RegistrySnapshot,
    ServedVersion,
    VersionRecord,
    iso,
)
from infermedic.rules import Rule

_VERSION_TAIL = re.compile(r"^(?:.*[/:@\s])?v?(\d+)$", re.IGNORECASE)


@dataclass(frozen=True, kw_only=True)
class RegistryContext:
    """The inputs of the registry rules. `served` is None when the service was not asked
    (no --url); `repo_pins` None when no serving repo was given."""

    snapshot: RegistrySnapshot
    options: RegistryOptions
    served: tuple[ServedVersion, ...] | None = None
    repo_pins: Mapping[str, str] | None = None
    pin_where: Mapping[str, str] = field(default_factory=dict)
    notifications: list[Notification] = field(default_factory=list)

    @property
    def location(self) -> Location:
        snap = self.snapshot
        ref = f"models:/{snap.name}@{snap.alias}" if snap.alias else f"models:/{snap.name}"
        return Location(url=snap.tracking_uri, endpoint=ref)

    def served_numbers(self) -> list[str]:
        """The distinct versions the service reported, as registry version numbers where
        they read as one (`3`, `v3`, `churn/3`), else as written; first seen first."""
        return list(dict.fromkeys(version_number(s.version) for s in self.served or ()))

    def checked_versions(self) -> list[VersionRecord]:
        """The versions the rules judge: the alias target and every served one."""
        snap = self.snapshot
        numbers = [snap.alias_version, *self.served_numbers()]
        found = [snap.version(n) for n in dict.fromkeys(n for n in numbers if n)]
        return [v for v in found if v is not None]


def version_number(reported: str) -> str:
    match = _VERSION_TAIL.match(reported.strip())
    return match.group(1) if match else reported.strip()


def version_evidence(version: VersionRecord, *, action: str) -> Evidence:
    """A version's registry record as evidence: its timestamps, run and aliases."""
    aliases = ", ".join(f"@{a}" for a in version.aliases) or "no alias"
    return Evidence(
        kind=EvidenceKind.COMMAND,
        action=action,
        observed=f"{version.label()}: registered {iso(version.creation_ms)}, last updated "
        f"{iso(version.last_updated_ms)}, run {version.run_id or '-'}, {aliases}",
        values={
            "name": version.name,
            "version": version.version,
            "creation_timestamp": iso(version.creation_ms),
            "last_updated_timestamp": iso(version.last_updated_ms),
            "run_id": version.run_id,
            "aliases": list(version.aliases),
            "tags": dict(version.tags),
        },
        at=iso(version.creation_ms),
    )


class RegistryRule(Rule):
    """A rule on registry data. Measured: it reads what the registry returned, not code."""

    measured: ClassVar[bool] = True
    severity: ClassVar[Severity] = Severity.MEDIUM

    def check(self, ctx: RegistryContext) -> list[Finding]:
        raise NotImplementedError
