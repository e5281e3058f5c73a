"""The JSON contract: the one serialiser of model objects, and its schema version."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from infermedic._version import __version__
from infermedic.model import (
    Effect,
    Evidence,
    EvidenceKind,
    Finding,
    Location,
    Notification,
    NotificationLevel,
    Plot,
    Report,
    Series,
    Severity,
    Table,
)

SCHEMA_VERSION = 1


def to_dict(report: Report) -> dict[str, Any]:
    """The report as plain JSON-ready data. Findings are sorted (severity, then place)."""
    ordered = report.sorted()
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "infermedic", "version": __version__, "command": report.tool},
        "inputs": list(report.inputs),
        "started_at": report.started_at,
        "duration_s": _number(report.duration_s),
        "headline": report.headline,
        "summary": Summary.of(ordered).to_dict(),
        "rules_run": list(report.rules_run),
        "findings": [finding_to_dict(f) for f in ordered.findings],
        "notifications": [notification_to_dict(n) for n in report.notifications],
        "tables": [table_to_dict(t) for t in report.tables],
        "plots": [plot_to_dict(p) for p in report.plots],
        "measurements": clean(report.measurements),
    }


def json_schema() -> dict[str, Any]:
    """The JSON Schema of what `to_dict` writes: `schema/report-v<SCHEMA_VERSION>.json`,
    shipped in the package. Adding a field keeps the version; removing or changing one
    raises it, and the old schema file stays beside the new one."""
    from importlib.resources import files

    name = f"schema/report-v{SCHEMA_VERSION}.json"
    data: dict[str, Any] = json.loads(files("infermedic.report").joinpath(name).read_text("utf-8"))
    return data


def dumps(data: Mapping[str, Any]) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


@dataclass(frozen=True, kw_only=True, slots=True)
class Summary:
    """A report's counts: findings (by severity, worst first) and notifications."""

    findings: int
    by_severity: Mapping[str, int]  # severity label → count, worst first
    worst: Severity | None
    notifications: int

    @classmethod
    def of(cls, report: Report) -> Summary:
        by_severity: dict[str, int] = {}
        for finding in sorted(report.findings, key=lambda f: -int(f.severity)):
            by_severity[finding.severity.label] = by_severity.get(finding.severity.label, 0) + 1
        return cls(
            findings=len(report.findings),
            by_severity=by_severity,
            worst=report.worst(),
            notifications=len(report.notifications),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "findings": self.findings,
            "by_severity": dict(self.by_severity),
            "worst": self.worst.label if self.worst is not None else None,
            "notifications": self.notifications,
        }


def location_to_dict(location: Location) -> dict[str, Any]:
    data: dict[str, Any] = {
        "path": location.path,
        "line": location.line,
        "column": location.column,
    }
    optional = {
        "end_line": location.end_line,
        "url": location.url,
        "endpoint": location.endpoint,
        "dataset": location.dataset,
        "column_name": location.column_name,
    }
    data.update({k: v for k, v in optional.items() if v is not None})
    return data


def evidence_to_dict(evidence: Evidence) -> dict[str, Any]:
    return {
        "kind": evidence.kind.value,
        "action": evidence.action,
        "observed": evidence.observed,
        "values": clean(evidence.values),
        "at": evidence.at,
    }


def finding_to_dict(finding: Finding) -> dict[str, Any]:
    return {
        "code": finding.code,
        "name": finding.name,
        "severity": finding.severity.label,
        "message": finding.message,
        "location": location_to_dict(finding.location),
        "checklist": list(finding.checklist),
        "evidence": [evidence_to_dict(e) for e in finding.evidence],
        "risk": finding.risk,
        "fix": finding.fix,
        "fingerprint": finding.fingerprint,
        "effect": effect_to_dict(finding.effect) if finding.effect is not None else None,
    }


def effect_to_dict(effect: Effect) -> dict[str, Any]:
    return {
        "statistic": effect.statistic,
        "value": _number(effect.value),
        "interval": clean(list(effect.interval)) if effect.interval is not None else None,
        "threshold": _number(effect.threshold),
        "strong": _number(effect.strong),
        "unit": effect.unit,
        "large": effect.large,
        "criterion": effect.criterion(),
    }


def notification_to_dict(notification: Notification) -> dict[str, Any]:
    return {
        "level": notification.level.value,
        "message": notification.message,
        "path": notification.path,
        "rule": notification.rule,
        "underpowered": notification.underpowered,
    }


def table_to_dict(table: Table) -> dict[str, Any]:
    return {
        "key": table.key,
        "title": table.title,
        "columns": list(table.columns),
        "rows": [clean(list(row)) for row in table.rows],
    }


def plot_to_dict(plot: Plot) -> dict[str, Any]:
    return {
        "key": plot.key,
        "title": plot.title,
        "kind": plot.kind,
        "x_label": plot.x_label,
        "y_label": plot.y_label,
        "x_scale": plot.x_scale,
        "y_scale": plot.y_scale,
        "size": plot.size,
        "series": [
            {"name": s.name, "x": clean(list(s.x)), "y": clean(list(s.y))} for s in plot.series
        ],
    }


def clean(value: Any) -> Any:
    """Make a value JSON-safe: NaN/inf become None, tuples lists, numpy scalars Python ones."""
    if isinstance(value, Mapping):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return _number(value)
    item = getattr(value, "item", None)  # numpy scalar
    if callable(item):
        return clean(item())
    return str(value)


def _number(value: float | None) -> float | None:
    if value is None or math.isnan(value) or math.isinf(value):
        return None
    return value


def report_from_dict(data: Mapping[str, Any]) -> Report:
    """The inverse of `to_dict`: a saved report read back (for replaying a diagnosis). Values
    JSON cannot hold (NaN, inf) come back as None; everything else round-trips."""
    return Report(
        tool=str(data["tool"]["command"]),
        findings=tuple(finding_from_dict(f) for f in data.get("findings", [])),
        notifications=tuple(
            Notification(
                level=NotificationLevel(n["level"]),
                message=str(n["message"]),
                path=n.get("path"),
                rule=n.get("rule"),
                underpowered=bool(n.get("underpowered", False)),
            )
            for n in data.get("notifications", [])
        ),
        rules_run=tuple(data.get("rules_run", [])),
        inputs=tuple(data.get("inputs", [])),
        tables=tuple(
            Table(
                key=t.get("key", ""),
                title=t["title"],
                columns=tuple(t["columns"]),
                rows=tuple(tuple(row) for row in t["rows"]),
            )
            for t in data.get("tables", [])
        ),
        plots=tuple(
            Plot(
                key=p.get("key", ""),
                title=p["title"],
                kind=p["kind"],
                x_label=p["x_label"],
                y_label=p["y_label"],
                x_scale=p.get("x_scale", "linear"),
                y_scale=p.get("y_scale", "linear"),
                size=p.get("size", "full"),
                series=tuple(
                    Series(
                        name=s["name"],
                        x=tuple(s["x"]),
                        y=tuple(float("nan") if v is None else v for v in s["y"]),
                    )
                    for s in p["series"]
                ),
            )
            for p in data.get("plots", [])
        ),
        measurements=dict(data.get("measurements", {})),
        started_at=data.get("started_at"),
        headline=str(data.get("headline") or ""),
        duration_s=data.get("duration_s"),
    )


def finding_from_dict(data: Mapping[str, Any]) -> Finding:
    effect = data.get("effect")
    location = data.get("location", {})
    return Finding(
        code=str(data["code"]),
        name=str(data["name"]),
        severity=Severity.parse(str(data["severity"])),
        message=str(data["message"]),
        location=Location(**{k: location.get(k) for k in Location.__slots__}),
        evidence=tuple(
            Evidence(
                kind=EvidenceKind(e["kind"]),
                action=str(e["action"]),
                observed=str(e["observed"]),
                values=dict(e.get("values") or {}),
                at=e.get("at"),
            )
            for e in data.get("evidence", [])
        ),
        risk=str(data.get("risk", "")),
        fix=str(data.get("fix", "")),
        checklist=tuple(data.get("checklist", [])),
        effect=None
        if not effect
        else Effect(
            statistic=str(effect["statistic"]),
            value=_float(effect.get("value"), math.nan),
            threshold=_float(effect.get("threshold"), math.nan),
            strong=_float(effect.get("strong"), math.inf),
            unit=str(effect.get("unit", "×")),
            interval=tuple(effect["interval"]) if effect.get("interval") else None,
        ),
    )


def _float(value: Any, missing: float) -> float:
    """A saved number; None (how JSON holds NaN and inf) reads back as `missing`: NaN for a
    measured value, inf for a stand-alone level that is never reached."""
    return missing if value is None else float(value)
