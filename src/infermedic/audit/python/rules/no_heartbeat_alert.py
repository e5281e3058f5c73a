"""MON002: Prometheus alert rules with no alert for a service that stops reporting."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import yaml

from infermedic.audit.project import AuditProject, FileKind, ProjectRule
from infermedic.model import Evidence, EvidenceKind, Finding, Location, Severity

_HEARTBEAT_EXPR = re.compile(
    r"\babsent(_over_time)?\s*\(|\bup\b[^=<>]*(==\s*0|<\s*1|<=\s*0)\b|\bvector\s*\(\s*1\s*\)"
)
# Label matchers (`{job="api", env!="dev"}`) hold `=` signs: dropped before matching `up == 0`.
_LABELS = re.compile(r"\{[^{}]*\}")
_HEARTBEAT_NAME = re.compile(
    r"heartbeat|dead[-_ ]?man|watchdog|absent|no[-_ ]?data|"
    r"target[-_ ]?down|instance[-_ ]?down|service[-_ ]?down",
    re.I,
)


class NoHeartbeatAlert(ProjectRule):
    """
    ## What it does
    Checks Prometheus alerting rules (rule files and `PrometheusRule` manifests) for an
    alert that fires when the service stops reporting: `absent(...)`,
    `absent_over_time(...)`, `up == 0` (label matchers too:
    `up{job="api"} == 0`, `sum(up{...}) < 1`), or a watchdog/dead-man's-switch alert. It only
    looks when the repository has alert rules at all.

    ## Why is this bad?
    Every other alert is a condition on metrics the service reports. When the service, its
    scrape target or the exporter dies, those metrics vanish, no threshold is crossed and
    every alert stays green: the quietest dashboard is the one for a dead service. A
    heartbeat alert turns silence into a page.

    ## Example
    ```yaml
    groups:
      - name: model-service
        rules:
          - alert: HighPredictionLatency
            expr: job:request_latency_seconds:p99{job="model-service"} > 0.5
            for: 10m
    ```

    Use instead:
    ```yaml
    groups:
      - name: model-service
        rules:
          - alert: HighPredictionLatency
            expr: job:request_latency_seconds:p99{job="model-service"} > 0.5
            for: 10m
          - alert: ModelServiceAbsent
            expr: absent(up{job="model-service"} == 1)
            for: 5m
    ```

    ## Known problems
    Alerts defined outside the repository (Grafana, a cloud console, another repo) are not
    seen, which is why the rule stays silent when it finds no alert rules at all.
    """

    code = "MON002"
    name = "no-heartbeat-alert"
    severity = Severity.MEDIUM
    summary = "No alert fires when the service stops reporting metrics."
    fix = (
        'Add an alert on `absent(up{job="<service>"} == 1)` (or a watchdog alert routed '
        "to a dead-man's switch)."
    )
    risk = "A dead service or scrape target raises no alert: outages go unnoticed."
    checklist = ("D-09",)
    file_kinds = (FileKind.YAML,)

    def check(self, project: AuditProject) -> Iterator[Finding]:
        first_file: tuple[str, int, str] | None = None
        names: list[str] = []
        for source in project.files_of(FileKind.YAML):
            text = source.read_text()
            if "alert" not in text or "expr" not in text:
                continue
            try:
                documents = list(yaml.safe_load_all(text))
            except yaml.YAMLError:
                continue  # unparseable YAML is the manifest rules' concern
            rules = [r for doc in documents for r in _alert_rules(doc)]
            if not rules:
                continue
            if any(_is_heartbeat(r) for r in rules):
                return
            names += [str(r.get("alert")) for r in rules]
            if first_file is None:
                line, line_text = _first_alert_line(text)
                first_file = (source.relpath, line, line_text)
        if first_file is None:
            return
        path, line, line_text = first_file
        yield self.finding(
            Location(path=path, line=line),
            f"none of the {len(names)} alert rule(s) fires when the service stops reporting",
            evidence=[
                Evidence(kind=EvidenceKind.SOURCE, action=f"{path}:{line}", observed=line_text),
                Evidence(
                    kind=EvidenceKind.SOURCE,
                    action="alert rules read",
                    observed=", ".join(names),
                    values={"alerts": names},
                ),
            ],
            fingerprint_key="no-heartbeat",
        )


def _alert_rules(document: Any) -> Iterator[dict[str, Any]]:
    if isinstance(document, dict):
        if "alert" in document and "expr" in document:
            yield document
            return
        for value in document.values():
            yield from _alert_rules(value)
    elif isinstance(document, list):
        for item in document:
            yield from _alert_rules(item)


def _is_heartbeat(rule: dict[str, Any]) -> bool:
    return bool(
        _HEARTBEAT_EXPR.search(_LABELS.sub("", str(rule.get("expr", ""))))
        or _HEARTBEAT_NAME.search(str(rule.get("alert", "")))
    )


def _first_alert_line(text: str) -> tuple[int, str]:
    for number, line in enumerate(text.splitlines(), start=1):
        if re.match(r"\s*-?\s*alert\s*:", line):
            return number, line.strip()
    return 1, text.splitlines()[0].strip() if text else ""
