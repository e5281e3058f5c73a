"""LIVE007: the service serves another model version than expected, or several at once."""

from __future__ import annotations

from infermedic.model import (
    Evidence,
    EvidenceKind,
    Finding,
    Notification,
    NotificationLevel,
    Severity,
)
from infermedic.probe.checks.contract import versions_in_response
from infermedic.probe.observations import ProbeObservations
from infermedic.probe.rules.base import REDACT, MeasuredRule


class ModelVersionMismatch(MeasuredRule):
    """Model version mismatch.

    ## What it does
    Checks the model version the service reports — in prediction responses (`model_version`,
    `X-Model-Version`), model metadata (Open Inference `versions`, TorchServe
    `modelVersion`, a metadata route) and `*_info` metric labels — against
    `--expect-version`, and checks that all these sources agree.

    ## Why is this bad?
    The registry says one version and production serves another (an alias moved without a
    redeploy, a stale image, a half-finished rollout). Accuracy reports, rollbacks and
    incident analysis then reason about the wrong model.

    ## How it's measured
    - Statistic: the set of distinct version strings from every source.
    - Window: detection, the contract check and the repeated known-good requests.
    - Minimum samples: one reported version.
    - Default threshold: more than one distinct version, or `--expect-version` not among them.
    """

    code = "LIVE007"
    name = "model-version-mismatch"
    severity = Severity.HIGH
    summary = "The served model version differs from the expected one, or sources disagree."
    risk = "Monitoring, rollbacks and audits reason about a model that is not the one serving."
    fix = (
        "Pin the version the service loads (`models:/name/7`, or resolve the alias at deploy "
        "time), redeploy, and report it in responses and an `*_info` metric."
    )

    def check(self, obs: ProbeObservations) -> list[Finding | Notification]:
        if obs.contract is None:
            return []
        versions = list(obs.contract.versions)
        for exchange in obs.repeats:
            versions.extend(versions_in_response(exchange))
        distinct = sorted({v for _, v in versions})
        expected = obs.expect_version
        if not distinct:
            if expected:
                return [
                    Notification(
                        level=NotificationLevel.WARNING,
                        rule=self.code,
                        message=f"--expect-version {expected!r} could not be checked: the service "
                        "reports no model version (responses, metadata or metrics)",
                    )
                ]
            return []
        problems: list[str] = []
        if expected is not None and expected not in distinct:
            problems.append(
                f"expected {expected!r} but the service reports "
                + ", ".join(repr(v) for v in distinct)
            )
        if len(distinct) > 1:
            by_source = "; ".join(
                f"{source}: {version!r}" for source, version in dict.fromkeys(versions)
            )
            problems.append(f"sources disagree ({by_source})")
        if not problems:
            return []
        evidence = [
            Evidence(
                kind=EvidenceKind.REQUEST,
                action=f"version reported by {source}",
                observed=repr(version),
                values={"source": source, "version": version},
            )
            for source, version in dict.fromkeys(versions)
        ]
        if obs.contract.prediction is not None:
            evidence.append(obs.contract.prediction.evidence(REDACT))
        message = "model version mismatch: " + "; ".join(problems)
        return [self.finding(obs.predict_location(), message, evidence=evidence)]
