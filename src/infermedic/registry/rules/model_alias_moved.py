"""MON009: the registry alias moved, so what serves changed (or will) without a deploy."""

from __future__ import annotations

from infermedic.model import Evidence, EvidenceKind, Finding, Severity
from infermedic.registry.records import DAY_MS, VersionRecord, iso
from infermedic.registry.rules.base import RegistryContext, RegistryRule, version_evidence


class ModelAliasMoved(RegistryRule):
    """Model alias moved.

    ## What it does
    Compares the version the service reports (model-info route, `inference_model_info`
    metric, `X-Model-Version` header, `model_version` in responses) with the version the
    registry's alias points to now, and reads the registry's own timestamps for when the
    alias can have moved. It reports: replicas serving two versions at once; a service
    serving another version than the alias (both high); and, at low severity, a service
    that follows an alias moved to a version registered within `recent-days` (default 14):
    it is healthy, but its predictions changed at its last model reload with no deploy,
    which explains "predictions changed". A service that serves the alias's version, moved
    there longer ago, gets no finding.

    ## Why is this bad?
    "Predictions changed but we did not deploy" is the classic result: a service that loads
    `models:/name@champion` picks up whatever the alias points to at its next start or
    reload, so a promotion in the registry changes production without any release, and
    replicas started at different times serve different models.

    ## How it's measured
    - Statistic: the distinct served versions against the alias target; the alias target's
      registration and last-update times (MLflow keeps no alias history: the alias cannot
      have moved to a version before it was registered).
    - Window: the probe's requests; the registry now.
    - Minimum samples: an alias that points to a version.
    - Default threshold: more than one served version, a served version other than the
      alias's, or an alias target registered within `recent-days`.

    ## Options
    `[tool.infermedic.registry]`: `recent-days`.
    """

    code = "MON009"
    name = "model-alias-moved"
    severity = Severity.HIGH
    summary = (
        "The registry alias points to another version than before: what serves changed "
        "without a deploy."
    )
    risk = "Production predictions change with a registry click, unreviewed and unannounced."
    fix = (
        "Resolve the alias to a version number at deploy time and pin it "
        "(`models:/name/7`), so a promotion goes through a deploy; expose the version in "
        "`inference_model_info` and alert when replicas disagree."
    )

    def check(self, ctx: RegistryContext) -> list[Finding]:
        snap = ctx.snapshot
        target = snap.target
        if target is None:
            return []
        served = ctx.served_numbers()
        alias = f"@{snap.alias}"
        moved = _moved_text(target)
        evidence = [
            version_evidence(target, action=f"{alias} of {snap.name} in {snap.tracking_uri}")
        ]
        previous = _previous(snap.versions, target)
        if previous is not None:
            evidence.append(version_evidence(previous, action="the version registered before it"))
        if served:
            evidence.append(
                Evidence(
                    kind=EvidenceKind.REQUEST,
                    action="versions the service reports",
                    observed=", ".join(f"{s.source}: {s.version!r}" for s in ctx.served or ()),
                    values={"served": served},
                )
            )
        recent = target.creation_ms is not None and (
            snap.fetched_ms - target.creation_ms <= ctx.options.recent_days * DAY_MS
        )
        # How bad it is: replicas that disagree, or a service that does not serve what the
        # alias names, is a fault (high). A service that serves the alias's version is
        # healthy: a recent move is only said (low), as the explanation of changed
        # predictions; a settled alias, long followed, is quiet.
        severity = self.severity
        if len(served) > 1:
            message = (
                f"replicas serve {len(served)} versions at once ({', '.join(_ordered(served))}); "
                f"{alias} points to {target.version}, {moved}"
            )
        elif served and served[0] != target.version:
            message = (
                f"the service serves version {served[0]}, but {alias} points to "
                f"{target.label()}, {moved}: the next restart or reload changes predictions"
            )
        elif served and recent:
            message = (
                f"the service follows {alias}, which points to {target.label()}, {moved}: "
                "predictions changed when the service reloaded it, with no deploy"
            )
            severity = Severity.LOW
        elif recent:
            message = (
                f"{alias} points to {target.label()}, {moved}; the served version was not "
                "checked (give --url): a service that loads the alias changed at its next reload"
            )
            severity = Severity.MEDIUM
        else:
            return []
        return [
            self.finding(
                ctx.location,
                message,
                evidence=evidence,
                severity=severity,
                fingerprint_key=f"{snap.name}@{snap.alias}",
            )
        ]


def _moved_text(target: VersionRecord) -> str:
    registered = iso(target.creation_ms) or "an unknown time"
    text = f"registered {registered}, so the alias moved there at or after then"
    if (
        target.last_updated_ms
        and target.creation_ms
        and target.last_updated_ms > target.creation_ms
    ):
        text += f" (the version was last updated {iso(target.last_updated_ms)})"
    return text


def _ordered(versions: list[str]) -> list[str]:
    """Version numbers in numeric order (names that are not numbers after them)."""
    return sorted(versions, key=lambda v: (not v.isdigit(), int(v) if v.isdigit() else 0, v))


def _previous(versions: tuple[VersionRecord, ...], target: VersionRecord) -> VersionRecord | None:
    older = [v for v in versions if 0 <= v.number < target.number]
    return max(older, key=lambda v: v.number, default=None)
