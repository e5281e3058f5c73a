"""`check_registry`: ask the registry what should serve, and judge it against what does."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from infermedic.model import Notification, NotificationLevel, Report, Table
from infermedic.registry.client import RegistryClient, tracking_uri_from
from infermedic.registry.libraries import repo_pins
from infermedic.registry.options import RegistryOptions
from infermedic.registry.records import RegistrySnapshot, ResolvedModel, ServedVersion, iso
from infermedic.registry.rules.base import RegistryContext, RegistryRule, version_number
from infermedic.registry.uri import parse_registry_model
from infermedic.runner import run_rules, select_rules
from infermedic.settings import Settings


def registry_options(settings: Settings) -> RegistryOptions:
    return RegistryOptions.from_mapping(
        settings.options_for_engine("registry"), source=settings.source or "settings"
    )


def registry_client(tracking_uri: str | None, options: RegistryOptions) -> RegistryClient:
    """The client for `--tracking-uri`, the settings' `tracking-uri` or MLFLOW_TRACKING_URI."""
    return RegistryClient(
        tracking_uri=tracking_uri_from(tracking_uri, options.tracking_uri),
        timeout_s=options.timeout_s,
        retries=options.retries,
    )


def precheck_registry(
    model: str, *, tracking_uri: str | None = None, settings: Settings | None = None
) -> None:
    """Fail fast, before a live check, when the server, model or alias is not there."""
    options = registry_options(settings or Settings())
    name, alias = parse_registry_model(model, default_alias=options.alias)
    registry_client(tracking_uri, options).check_alias(name, alias)


def check_registry(
    model: str,
    *,
    tracking_uri: str | None = None,
    served: Sequence[ServedVersion] | None = None,
    repo: Path | None = None,
    settings: Settings | None = None,
) -> Report:
    """Read `NAME[@ALIAS]` from the registry and judge it; `served` are the versions the
    service reported (None when it was not asked), `repo` the serving repository."""
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    begin = time.monotonic()
    settings = settings or Settings()
    options = registry_options(settings)
    name, alias = parse_registry_model(model, default_alias=options.alias)
    client = registry_client(tracking_uri, options)
    numbers = [version_number(s.version) for s in served or ()]
    snapshot = client.snapshot(name, alias, extra_versions=numbers)
    report = judge_registry(snapshot, served=served, repo=repo, options=options, settings=settings)
    return Report(
        tool="registry",
        findings=report.findings,
        notifications=report.notifications,
        rules_run=report.rules_run,
        inputs=report.inputs,
        tables=report.tables,
        measurements=report.measurements,
        started_at=started_at,
        duration_s=time.monotonic() - begin,
    )


def judge_registry(
    snapshot: RegistrySnapshot,
    *,
    served: Sequence[ServedVersion] | None,
    repo: Path | None,
    options: RegistryOptions,
    settings: Settings,
) -> Report:
    """The registry rules on a recorded snapshot: no network, the unit-tested path."""
    pins, where = repo_pins(repo) if repo is not None else (None, {})
    ctx = RegistryContext(
        snapshot=snapshot,
        options=options,
        served=tuple(served) if served is not None else None,
        repo_pins=pins,
        pin_where=where,
    )
    if served is None:
        for code in ("MON007", "MON009"):
            ctx.notifications.append(
                Notification(
                    level=NotificationLevel.NOTE,
                    rule=code,
                    message=f"{code}: the service's version was not read (give --url)",
                    underpowered=code == "MON007",
                )
            )
    elif not served:
        ctx.notifications.append(
            Notification(
                level=NotificationLevel.WARNING,
                rule="MON007",
                message="the service reports no model version (responses, headers, metadata "
                "or an `*_info` metric): served vs registered cannot be compared",
                underpowered=True,
            )
        )
    if pins is None:
        ctx.notifications.append(
            Notification(
                level=NotificationLevel.NOTE,
                rule="MON008",
                message="MON008: no serving repository given (--repo), library pins not compared",
                underpowered=True,
            )
        )
    if snapshot.alias is not None and snapshot.target is None:
        ctx.notifications.append(
            Notification(
                level=NotificationLevel.WARNING,
                message=f"@{snapshot.alias} points to version {snapshot.alias_version}, which "
                "the registry did not list among the model's versions",
            )
        )
    # the shared runner: a crashing MON rule is a notification and the run is partial
    judged = run_rules(selected_rules(settings), ctx)
    return Report(
        tool="registry",
        findings=judged.findings,
        notifications=(*ctx.notifications, *judged.notifications),
        rules_run=judged.rules_run,
        inputs=(f"models:/{snapshot.name}@{snapshot.alias}", snapshot.tracking_uri),
        tables=(_versions_table(snapshot, ctx),),
        measurements={
            "registry": snapshot.to_dict(),
            "served": None
            if served is None
            else [{"source": s.source, "version": s.version} for s in served],
            "repo_pins": pins,
            **judged.status(),
        },
    )


def selected_rules(settings: Settings) -> list[type[RegistryRule]]:
    from infermedic.registry.rules import RULES

    rules = [r for r in RULES if issubclass(r, RegistryRule)]
    return select_rules(rules, settings.select, settings.ignore)


def _versions_table(snapshot: RegistrySnapshot, ctx: RegistryContext) -> Table:
    served = set(ctx.served_numbers())
    rows = tuple(
        (
            v.version,
            ", ".join(f"@{a}" for a in v.aliases) or "-",
            "yes" if v.version in served else "-",
            iso(v.creation_ms) or "-",
            iso(v.last_updated_ms) or "-",
            v.run_id or "-",
        )
        for v in snapshot.versions[:20]
    )
    return Table(
        title=f"Registry: {snapshot.name} at {snapshot.tracking_uri}",
        columns=("version", "aliases", "served", "registered", "last updated", "run"),
        rows=rows,
        key="registry_versions",
    )


def resolve_model_uri(
    text: str, *, tracking_uri: str | None = None, settings: Settings | None = None
) -> ResolvedModel:
    """Resolve `models:/NAME@ALIAS`, `models:/NAME/VERSION` or `runs:/RUN/PATH` against the
    registry and download the artifact to the cache (once per version)."""
    from infermedic.registry.uri import parse_model_uri

    parse_model_uri(text)  # a malformed URI fails before any tracking server is asked
    return registry_client(tracking_uri, registry_options(settings or Settings())).resolve(text)


def served_from_probe(report: Report | None) -> list[ServedVersion] | None:
    """The versions a probe report saw the service report; None when no contract ran."""
    if report is None:
        return None
    contract = report.measurements.get("contract")
    if not isinstance(contract, dict):
        return None
    rows = contract.get("served_versions", contract.get("model_versions")) or []
    return [
        ServedVersion(source=str(r["source"]), version=str(r["version"]))
        for r in rows
        if isinstance(r, dict) and "version" in r
    ]


def with_registry(report: Report, registry: Report) -> Report:
    """A probe report with the registry check's findings, notes and measurements added."""
    return replace(
        report,
        findings=(*report.findings, *registry.findings),
        notifications=(*report.notifications, *registry.notifications),
        rules_run=(*report.rules_run, *registry.rules_run),
        inputs=(*report.inputs, *registry.inputs),
        tables=(*report.tables, *registry.tables),
        measurements={
            **report.measurements,
            "registry": registry.measurements,
            # a crashed MON rule makes the combined report partial too
            "rules_failed": [
                *(report.measurements.get("rules_failed") or ()),
                *(registry.measurements.get("rules_failed") or ()),
            ],
        },
    )
