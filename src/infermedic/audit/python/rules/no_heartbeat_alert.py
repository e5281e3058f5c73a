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
    looks when the repository has alert rules at all. When the heartbeats name their jobs
    (`up{job="api"} == 0`), every job the other alerts watch needs one of its own: one
    service's heartbeat does not cover another's.

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
        read: list[tuple[str, str, list[dict[str, Any]]]] = []  # (path, text, rules)
        for source in project.files_of(FileKind.YAML):
            text = source.read_text()
            if "alert" not in text or "expr" not in text:
                continue
            try:
                documents = list(yaml.safe_load_all(text))
            except yaml.YAMLError:
                continue  # unparseable YAML is the manifest rules' concern
            rules = [r for doc in documents for r in _alert_rules(doc)]
            if rules:
                read.append((source.relpath, text, rules))
        if not read:
            return
        every = [r for _, _, rules in read for r in rules]
        beats = [r for r in every if _is_heartbeat(r)]
        if not beats:
            path, text, _ = read[0]
            line, line_text = _first_alert_line(text)
            names = [str(r.get("alert")) for r in every]
            yield self._finding(
                path,
                line,
                line_text,
                f"none of the {len(names)} alert rule(s) fires when the service stops reporting",
                names,
                "no-heartbeat",
            )
            return
        covered = [_jobs(r) for r in beats]
        if any(jobs is None for jobs in covered):
            return  # a heartbeat on every target (`up == 0`, a watchdog, a job regex)
        watched = set().union(*(j for j in covered if j is not None))
        # Each service (Prometheus job) its alerts watch needs its own heartbeat: one
        # service's `up{job="a"} == 0` says nothing when job "b" stops reporting.
        for path, text, rules in read:
            for rule in rules:
                jobs = _jobs(rule) or set()
                for job in sorted(jobs - watched):
                    watched.add(job)  # one finding per job
                    name = str(rule.get("alert"))
                    line, line_text = _alert_line(text, name)
                    yield self._finding(
                        path,
                        line,
                        line_text,
                        f"alert `{name}` watches job `{job}`, but no heartbeat alert fires when "
                        f"`{job}` stops reporting (heartbeats cover: "
                        f"{', '.join(sorted(j for c in covered if c for j in c))})",
                        [name],
                        f"no-heartbeat|{job}",
                    )

    def _finding(
        self, path: str, line: int, line_text: str, message: str, names: list[str], key: str
    ) -> Finding:
        return self.finding(
            Location(path=path, line=line),
            message,
            evidence=[
                Evidence(kind=EvidenceKind.SOURCE, action=f"{path}:{line}", observed=line_text),
                Evidence(
                    kind=EvidenceKind.SOURCE,
                    action="alert rules read",
                    observed=", ".join(names),
                    values={"alerts": names},
                ),
            ],
            fingerprint_key=key,
        )


_JOB = re.compile(r"\bjob\s*(=~|!=|!~|=)\s*\"([^\"]*)\"")


def _jobs(rule: dict[str, Any]) -> set[str] | None:
    """The jobs an alert names with `job="x"`; None when it is not tied to named jobs
    (no job matcher, or a regex or negative matcher)."""
    found = _JOB.findall(str(rule.get("expr", "")))
    if not found or any(op != "=" for op, _ in found):
        return None
    return {value for _, value in found}


def _alert_line(text: str, name: str) -> tuple[int, str]:
    pattern = re.compile(rf"\s*-?\s*alert\s*:\s*[\"']?{re.escape(name)}[\"']?\s*(#.*)?$")
    for number, line in enumerate(text.splitlines(), start=1):
        if pattern.match(line):
            return number, line.strip()
    return _first_alert_line(text)


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
