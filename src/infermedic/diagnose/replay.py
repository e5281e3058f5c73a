"""Saved incidents: every diagnosis keeps what its checks measured, and can be judged again.

`observations.json` holds the symptom, the inputs (secrets redacted), and each check's status,
command, host load and full report (findings with their evidence and effect sizes,
notifications, `rules_run`, measurements). `replay` reads it back and re-runs the judge —
routing, coverage and hypotheses — without touching the service, so a team can share an
incident and a change to the judgement is tested on recorded incidents.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from infermedic.atomic import write_atomically
from infermedic.diagnose.coverage import coverage_of
from infermedic.diagnose.host import HostLoad
from infermedic.diagnose.hypotheses import CheckKind, Coverage, evaluate
from infermedic.diagnose.model import CheckRun, CheckStatus, Diagnosis, FixOffer
from infermedic.diagnose.router import route
from infermedic.diagnose.timeline import redact
from infermedic.errors import InputError
from infermedic.model import Finding
from infermedic.report.jsonfmt import clean, report_from_dict, to_dict

OBSERVATIONS_SCHEMA = 1
FILE_NAME = "observations.json"
MAX_OBSERVATIONS_BYTES = 256 * 1024 * 1024  # recorded incidents are well under 1 MB
_HINT = "it must be the observations.json a diagnose run wrote"


def observations(diagnosis: Diagnosis) -> dict[str, Any]:
    """The diagnosis's measurements as JSON-ready data (no verdicts: those are re-derived),
    with every secret redacted: the file is meant to be shared."""
    data: dict[str, Any] = clean(redact(_observations(diagnosis)))
    return data


def _observations(diagnosis: Diagnosis) -> dict[str, Any]:
    return {
        "schema_version": OBSERVATIONS_SCHEMA,
        "symptom": diagnosis.route.symptom,
        "inputs": clean(redact(dict(diagnosis.inputs))),
        "started_at": diagnosis.started_at,
        "duration_s": diagnosis.duration_s,
        "checks": [
            {
                "kind": c.kind.value,
                "status": c.status.value,
                "command": c.command,
                "reason": c.reason,
                "duration_s": c.duration_s,
                "host": _host_dict(c.host),
                "report": to_dict(c.report) if c.report is not None else None,
            }
            for c in diagnosis.checks
        ],
        # what the fix dry run verified in this run (it read the repo, as the audit did)
        "fixes": [offer.to_dict() for offer in diagnosis.fixes],
        "fixes_note": diagnosis.fixes_note,
    }


def save_observations(diagnosis: Diagnosis, path: Path) -> Path:
    """Write the observations to `path` (a directory gets `observations.json`), atomically
    and fsynced, and return the file's path."""
    if path.is_dir():
        path = path / FILE_NAME
    text = json.dumps(observations(diagnosis), indent=1, ensure_ascii=False, allow_nan=False)
    try:
        write_atomically(path, text + "\n")
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return path


def replay(source: Path) -> Diagnosis:
    """Re-judge a saved incident: `source` is an `observations.json` or its directory."""
    from infermedic.jsontext import read

    path = source / FILE_NAME if source.is_dir() else source
    if not path.exists():
        raise InputError(f"{path} does not exist", hint="give a saved incident directory")
    try:
        data = read(path, "the file", max_bytes=MAX_OBSERVATIONS_BYTES)
    except InputError as exc:
        raise InputError(f"{path} is not a saved incident: {exc}", hint=_HINT) from exc
    if (
        not isinstance(data, Mapping)
        or isinstance(data.get("schema_version"), bool)
        or data.get("schema_version") != OBSERVATIONS_SCHEMA
    ):
        raise InputError(
            f"{path} is not a saved incident of schema {OBSERVATIONS_SCHEMA}", hint=_HINT
        )
    try:
        symptom = _typed(data, "symptom", str)
        checks = _typed(data, "checks", list) or []
        if any(not isinstance(c, Mapping) for c in checks):
            raise TypeError("every check must be a JSON object")
        fixes = _typed(data, "fixes", list) or []
        if any(not isinstance(f, Mapping) for f in fixes):
            raise TypeError("every fix must be a JSON object")
        judged = judge(
            symptom or None,
            [_check_from_dict(c) for c in checks],
            inputs=_typed(data, "inputs", Mapping) or {},
            started_at=_typed(data, "started_at", str),
            duration_s=_typed(data, "duration_s", (int, float)),
        )
        offers = [FixOffer(**offer) for offer in fixes]
    # a field of the wrong type or shape surfaces as any of these while it is read and
    # judged: the file is damaged (a file `diagnose` wrote judges cleanly)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise InputError(f"{path} is damaged: {type(exc).__name__}: {exc}"[:500]) from exc
    # the saved fix offers, for the findings that are still behind the root cause
    root = judged.root_cause
    codes = {f.code for f in root.findings} if root is not None else set()
    return replace(
        judged,
        fixes=tuple(o for o in offers if o.code in codes),
        fixes_note=str(data.get("fixes_note") or ""),
    )


def judge(
    symptom: str | None,
    runs: list[CheckRun],
    *,
    inputs: Mapping[str, Any],
    started_at: str | None,
    duration_s: float | None,
) -> Diagnosis:
    """The judgement of a diagnosis from its check runs: the one path `diagnose` and
    `replay` share."""
    routed = route(symptom)
    findings: dict[CheckKind, list[Finding]] = {}
    for run in runs:
        findings.setdefault(run.kind, []).extend(run.findings)
    coverage: dict[CheckKind, Coverage] = {
        r.kind: coverage_of(r.kind, r.report, r.host.noisy if r.host is not None else None)
        for r in runs
        if r.status is CheckStatus.RAN and r.report is not None
    }
    return Diagnosis(
        route=routed,
        checks=tuple(runs),
        hypotheses=tuple(
            evaluate(
                routed.categories,
                findings,
                coverage,
                stated=routed.stated or None,
                failed={r.kind: r.reason for r in runs if r.status is CheckStatus.FAILED},
            )
        ),
        inputs=dict(inputs),
        started_at=started_at,
        duration_s=duration_s,
    )


def _typed(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    """`data[key]` when absent, null or of `kind`; a `TypeError` naming the key otherwise."""
    value = data.get(key)
    if value is None or (isinstance(value, kind) and not isinstance(value, bool)):
        return value
    raise TypeError(f"{key!r} is {type(value).__name__}")


def _host_dict(host: HostLoad | None) -> dict[str, Any] | None:
    if host is None:
        return None
    return {
        "cores": host.cores,
        "window_s": host.window_s,
        "others_cores": host.others_cores,
        "steal_share": host.steal_share,
        "service_found": host.service_found,
        "service_cores": host.service_cores,
        "own_cores": host.own_cores,
    }


def _check_from_dict(data: Mapping[str, Any]) -> CheckRun:
    host = data.get("host")
    report = data.get("report")
    return CheckRun(
        kind=CheckKind(data["kind"]),
        status=CheckStatus(data["status"]),
        command=str(data["command"]),
        reason=str(data.get("reason", "")),
        duration_s=float(data.get("duration_s") or 0.0),
        host=HostLoad(**host) if isinstance(host, Mapping) else None,
        report=report_from_dict(report) if isinstance(report, Mapping) else None,
    )
