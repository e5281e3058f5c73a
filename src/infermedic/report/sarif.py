"""SARIF 2.1.0 for GitHub code scanning: the rules that ran, levels, fingerprints, notifications.

Findings with no file (a live endpoint) carry only a logical location; GitHub code scanning
shows file-located results, so SARIF is mostly for `audit` and `drift` (whose location is the
dataset file). Audit paths are written relative to the repository root (the git work tree
holding the audited directory) with `uriBaseId: %SRCROOT%`, so a finding lands on the right
file when a subfolder is audited.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any, assert_never

from infermedic._version import __version__
from infermedic.model import Finding, Notification, NotificationLevel, Report, Severity
from infermedic.rules import Registry, Rule

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
# The project's home ([project.urls] Homepage in pyproject.toml; a test keeps them equal).
PROJECT_URL = "https://github.com/infermedic/infermedic"
DOCS_BASE = f"{PROJECT_URL}/blob/main/docs/rules/"
SRCROOT = "%SRCROOT%"


def sarif_level(severity: Severity) -> str:
    match severity:
        case Severity.CRITICAL | Severity.HIGH:
            return "error"
        case Severity.MEDIUM:
            return "warning"
        case Severity.LOW | Severity.INFO:
            return "note"
        case _:
            assert_never(severity)


def render_sarif(report: Report, registry: Registry | None = None) -> str:
    return json.dumps(to_sarif(report, registry), indent=2, ensure_ascii=False) + "\n"


def to_sarif(report: Report, registry: Registry | None = None) -> dict[str, Any]:
    registry = registry or Registry.default()
    codes = sorted(set(report.rules_run) | {f.code for f in report.findings})
    rules = [r for r in (registry.get(c) for c in codes) if r is not None]
    index = {rule.code: i for i, rule in enumerate(rules)}
    ordered = report.sorted()
    prefix = _repo_prefix(report)
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "infermedic",
                "version": __version__,
                "semanticVersion": __version__.split("+")[0],
                "informationUri": PROJECT_URL,
                "rules": [_rule_descriptor(rule) for rule in rules],
            }
        },
        "invocations": [
            {
                "executionSuccessful": not any(
                    n.level is NotificationLevel.ERROR for n in report.notifications
                ),
                "toolExecutionNotifications": [
                    _notification(n, prefix) for n in report.notifications
                ],
            }
        ],
        "results": [_result(f, index, prefix) for f in ordered.findings],
        "columnKind": "unicodeCodePoints",
    }
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


def _rule_descriptor(rule: type[Rule]) -> dict[str, Any]:
    sections = rule.sections()
    what = sections.get("What it does", rule.summary)
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": what},
        "help": {"text": rule.doc(), "markdown": rule.doc()},
        "helpUri": f"{DOCS_BASE}{rule.code}.md",
        "defaultConfiguration": {"level": sarif_level(rule.severity)},
        "properties": {
            "tags": [rule.prefix().lower(), *rule.checklist],
            "severity": rule.severity.label,
        },
    }


def _repo_prefix(report: Report) -> PurePosixPath | None:
    """Where the report's relative paths sit inside their repository: the audited root
    relative to the enclosing git work tree (or the root itself when there is none)."""
    root = report.measurements.get("root") if report.tool == "audit" else None
    if not isinstance(root, str) or not root:
        return None
    base = Path(root)
    for top in (base, *base.parents):
        if (top / ".git").exists():
            return PurePosixPath(base.relative_to(top).as_posix())
    return PurePosixPath(".")


def _artifact(path: str, prefix: PurePosixPath | None) -> dict[str, Any]:
    if prefix is None or PurePosixPath(path).is_absolute():
        return {"uri": path}
    joined = (prefix / path).as_posix()
    return {"uri": joined.removeprefix("./"), "uriBaseId": SRCROOT}


def _result(
    finding: Finding, index: dict[str, int], prefix: PurePosixPath | None = None
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": finding.code,
        "level": sarif_level(finding.severity),
        "message": {"text": _message(finding)},
        "partialFingerprints": {"infermedic/v1": finding.fingerprint},
        "properties": {"severity": finding.severity.label},
    }
    if finding.code in index:
        result["ruleIndex"] = index[finding.code]
    location: dict[str, Any] = {}
    loc = finding.location
    file_path = loc.path or loc.dataset
    if file_path:
        physical: dict[str, Any] = {"artifactLocation": _artifact(file_path, prefix)}
        if loc.path and loc.line:
            region: dict[str, Any] = {"startLine": loc.line}
            if loc.column:
                region["startColumn"] = loc.column
            if loc.end_line:
                region["endLine"] = loc.end_line
            physical["region"] = region
        location["physicalLocation"] = physical
    logical = loc.endpoint or loc.column_name or loc.url
    if logical:
        kind = "member" if loc.column_name else "function"
        location["logicalLocations"] = [{"name": logical, "kind": kind}]
    if location:
        result["locations"] = [location]
    return result


def _message(finding: Finding) -> str:
    text = finding.message
    if finding.fix:
        text += f" Fix: {finding.fix}"
    return text


def _notification(notification: Notification, prefix: PurePosixPath | None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "level": notification.level.value,
        "message": {"text": notification.message},
    }
    if notification.rule:
        data["descriptor"] = {"id": notification.rule}
    if notification.path:
        artifact = _artifact(notification.path, prefix)
        data["locations"] = [{"physicalLocation": {"artifactLocation": artifact}}]
    return data
