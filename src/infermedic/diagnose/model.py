"""What a diagnosis is: the route, the checks run, the hypotheses judged, the root cause."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from infermedic.diagnose.host import HostLoad
from infermedic.diagnose.hypotheses import CheckKind, Hypothesis, Status
from infermedic.diagnose.measured import ProbeMeasured, RunStatus
from infermedic.diagnose.router import Route
from infermedic.model import Finding, Notification, Plot, Report, Severity, Table
from infermedic.report.jsonfmt import evidence_to_dict, location_to_dict


class CheckStatus(enum.StrEnum):
    RAN = "ran"
    SKIPPED = "skipped"  # the inputs do not allow it; `reason` names the missing input
    FAILED = "failed"  # it started and raised an error; `reason` says which


@dataclass(frozen=True, kw_only=True)
class CheckRun:
    """One check of the plan: what was run (as a command a user could repeat) and how it went."""

    kind: CheckKind
    status: CheckStatus
    command: str
    reason: str = ""
    report: Report | None = None
    duration_s: float = 0.0
    host: HostLoad | None = None  # how busy the host was while it ran

    @property
    def findings(self) -> tuple[Finding, ...]:
        return self.report.findings if self.report is not None else ()


@dataclass(frozen=True, kw_only=True, slots=True)
class FixOffer:
    """A mechanical fix `infermedic fix` verified for a finding behind the root cause."""

    code: str
    finding: str  # where the finding is (`app/main.py:41:19`)
    summary: str  # what the fix changes
    command: str  # the exact `infermedic fix PATH --select CODE` line (propose mode)

    def to_dict(self) -> dict[str, str]:
        return {
            "code": self.code,
            "finding": self.finding,
            "summary": self.summary,
            "command": self.command,
        }


@dataclass(frozen=True, kw_only=True)
class Diagnosis:
    """The result of `diagnose`: everything the incident report shows."""

    route: Route
    checks: tuple[CheckRun, ...]
    hypotheses: tuple[Hypothesis, ...]
    inputs: Mapping[str, Any] = field(default_factory=dict)
    started_at: str | None = None
    duration_s: float | None = None
    # fixes `infermedic fix` verified (a dry run) for the root cause's findings in this run
    fixes: tuple[FixOffer, ...] = ()
    fixes_note: str = ""  # why no fix could be looked for (the dry run failed), else ""

    @property
    def root_cause(self) -> Hypothesis | None:
        """The best-supported cause that explains the symptom: confirmed, else suspected on
        static evidence. A cause outside the symptom names the root only when it is confirmed
        and no in-symptom cause has any support; a lone measured effect the host's noise
        could explain never does."""
        eligible = [h for h in self.hypotheses if h.eligible_root]
        supported_in_symptom = [
            h
            for h in self.hypotheses
            if h.in_symptom and h.status in (Status.CONFIRMED, Status.SUSPECTED)
        ]
        for status in (Status.CONFIRMED, Status.SUSPECTED):
            for hypothesis in eligible:
                if hypothesis.status is status and hypothesis.in_symptom:
                    return hypothesis
        if supported_in_symptom:
            return None
        # outside the symptom, only a measured, confirmed cause is worth naming: a static
        # pattern unrelated to what the user saw is "also found", not their root cause
        for hypothesis in eligible:
            if hypothesis.status is Status.CONFIRMED:
                return hypothesis
        return None

    @property
    def failed_checks(self) -> tuple[CheckRun, ...]:
        return tuple(c for c in self.checks if c.status is CheckStatus.FAILED)

    def ordered_checks(self) -> tuple[CheckRun, ...]:
        """Failed checks first (what the user must fix to get an answer), then the rest."""
        order = {CheckStatus.FAILED: 0, CheckStatus.RAN: 1, CheckStatus.SKIPPED: 2}
        return tuple(sorted(self.checks, key=lambda c: order[c.status]))

    def verdict(self) -> str:
        """One sentence: the answer, or why there is none, never a bare "healthy" beside
        findings that say otherwise."""
        root = self.root_cause
        failed = self.failed_checks
        failed_text = (
            f" {len(failed)} check(s) failed ({', '.join(c.kind.value for c in failed)}), so "
            "the causes they cover are not tested."
            if failed
            else ""
        )
        if root is not None:
            return f"Root cause ({root.status.value}): {root.cause.title}.{failed_text}"
        possible = [
            h for h in self.hypotheses if h.status in (Status.SUSPECTED, Status.INCONCLUSIVE)
        ]
        notable = [f for f in self.findings if f.severity >= Severity.MEDIUM]
        if failed:
            return f"No root cause could be named.{failed_text}"
        if possible:
            names = "; ".join(f"{h.cause.title} ({h.reason})" for h in possible[:2])
            return f"No root cause named: the only candidates are not established — {names}."
        if notable:
            codes = ", ".join(sorted({f.code for f in notable}))
            return (
                f"No root cause for the stated symptom; {len(notable)} finding(s) at medium or "
                f"above ({codes}) are listed below but tie to no cause of this symptom."
            )
        return "No root cause found: the checks that ran saw nothing wrong."

    @property
    def noisy_checks(self) -> tuple[CheckRun, ...]:
        return tuple(c for c in self.checks if c.host is not None and c.host.noisy)

    @property
    def findings(self) -> tuple[Finding, ...]:
        return tuple(f for check in self.checks for f in check.findings)

    @property
    def severity(self) -> Severity:
        """The incident's severity: the worst finding behind the root cause, else the worst."""
        root = self.root_cause
        pool = root.findings if root is not None and root.findings else self.findings
        return max((f.severity for f in pool), default=Severity.INFO)

    def checks_run(self) -> tuple[CheckKind, ...]:
        return tuple(c.kind for c in self.checks if c.status is CheckStatus.RAN)

    def to_report(self) -> Report:
        """The diagnosis in the common report contract; `measurements["diagnosis"]` holds the
        incident layout the Markdown and HTML views render."""
        tables = [self._hypotheses_table(), self._checks_table()]
        plots: list[Plot] = []
        rules_run: list[str] = []
        rules_failed: list[str] = []
        notifications: list[Notification] = []
        for check in self.checks:
            if check.report is None:
                continue
            tables.extend(check.report.tables)
            plots.extend(check.report.plots)
            rules_run.extend(check.report.rules_run)
            rules_failed.extend(RunStatus.of(check.report).rules_failed)
            notifications.extend(check.report.notifications)
        return Report(
            tool="diagnose",
            findings=self.findings,
            notifications=tuple(notifications),
            rules_run=tuple(dict.fromkeys(rules_run)),
            inputs=tuple(f"{k}={v}" for k, v in self.inputs.items() if v),
            tables=tuple(tables),
            plots=tuple(plots),
            measurements={
                # a rule that crashed inside any check leaves the diagnosis partial: the CLI
                # exits 2 on it, as every command does
                "rules_failed": list(dict.fromkeys(rules_failed)),
                "diagnosis": self.summary(),
                **{
                    c.kind.value: dict(c.report.measurements)
                    for c in self.checks
                    if c.report is not None and c.report.measurements
                },
            },
            started_at=self.started_at,
            duration_s=self.duration_s,
            headline=self.verdict(),
        )

    def summary(self) -> dict[str, Any]:
        root = self.root_cause
        probed = self.probe_measured()
        return {
            "symptom": self.route.symptom,
            "severity": self.severity.label,
            "categories": [{"key": c.value, "label": c.label} for c in self.route.categories],
            "routing": self.route.reason,
            "stated": [c.value for c in self.route.stated],
            "verdict": self.verdict(),
            "host": [
                {"check": c.kind.value, **c.host.to_dict(), "described": c.host.describe()}
                for c in self.checks
                if c.host is not None
            ],
            "checks": [
                {
                    "kind": c.kind.value,
                    "status": c.status.value,
                    "command": c.command,
                    "reason": c.reason,
                    "duration_s": round(c.duration_s, 3),
                    "findings": len(c.findings),
                }
                for c in self.ordered_checks()
            ],
            "hypotheses": [_hypothesis_dict(h) for h in self.hypotheses],
            "root_cause": _hypothesis_dict(root) if root is not None else None,
            "solution": solution(root),
            "fixes": [offer.to_dict() for offer in self.fixes],
            "fixes_note": self.fixes_note,
            "prevention": self.prevention(),
            # what the probe measured of the service and its model, for the incident layout
            "latency": probed.load.latency.to_dict()
            if probed is not None and probed.load is not None and probed.load.latency is not None
            else None,
            "model": [list(row) for row in probed.model_rows()] if probed is not None else [],
        }

    def probe_measured(self) -> ProbeMeasured | None:
        """What the probe check measured, when it ran."""
        probe = next(
            (c.report for c in self.checks if c.kind is CheckKind.PROBE and c.report is not None),
            None,
        )
        return ProbeMeasured.of(probe) if probe is not None else None

    def prevention(self) -> list[str]:
        """The root cause's prevention items. A command that guards against the fault (an
        `infermedic ... --select CODES` or `probe --checks blocking`) is kept only when this
        run showed one of its codes, i.e. the guard would fail on today's code or service:
        a regression test that passes on the broken version protects nothing."""
        root = self.root_cause
        if root is None:
            return []
        found = {f.code for f in self.findings}
        kept: list[str] = []
        for item in root.cause.prevention:
            guarded = _guarded_codes(item)
            if guarded is None:
                kept.append(item)
            elif guarded & found:
                shown = ", ".join(sorted(guarded & found))
                kept.append(f"{item} — checked: today's run found {shown}, so it fails now")
        return kept

    def _hypotheses_table(self) -> Table:
        return Table(
            key="hypotheses",
            title="Root-cause analysis",
            columns=("cause", "component", "status", "evidence", "why"),
            rows=tuple(
                (
                    h.cause.title if h.in_symptom else f"{h.cause.title} (also found)",
                    h.cause.component,
                    h.status.value + (" (noisy host)" if h.noisy else ""),
                    ", ".join(sorted({f.code for f in h.findings})) or "-",
                    h.reason,
                )
                for h in self.hypotheses
            ),
        )

    def _checks_table(self) -> Table:
        return Table(
            key="checks",
            title="Checks",
            columns=("check", "status", "command", "findings", "seconds", "note"),
            rows=tuple(
                (
                    c.kind.value,
                    c.status.value,
                    c.command,
                    len(c.findings),
                    round(c.duration_s, 2),
                    c.reason or "-",
                )
                for c in self.ordered_checks()
            ),
        )


def _hypothesis_dict(hypothesis: Hypothesis) -> dict[str, Any]:
    return {
        "key": hypothesis.cause.key,
        "title": hypothesis.cause.title,
        "component": hypothesis.cause.component,
        "status": hypothesis.status.value,
        "reason": hypothesis.reason,
        "in_symptom": hypothesis.in_symptom,
        "stated": hypothesis.stated,
        "noisy_host": hypothesis.noisy,
        "sources": [s.value for s in hypothesis.sources],
        "evidence": [
            {
                "code": f.code,
                "name": f.name,
                "severity": f.severity.label,
                "message": f.message,
                "location": location_to_dict(f.location),
                "evidence": [evidence_to_dict(e) for e in f.evidence],
                "fix": f.fix,
            }
            for f in hypothesis.findings
        ],
    }


def solution(root: Hypothesis | None) -> dict[str, Any]:
    """What to do now and for good about the root cause (nothing without one)."""
    if root is None:
        return {"immediate": [], "long_term": ""}
    return {"immediate": immediate_fixes(root), "long_term": root.cause.long_term_fix}


def immediate_fixes(root: Hypothesis) -> list[str]:
    """One list of things to do now, without near-duplicates.

    A static finding's fix names the line to change ("in `predict`, call `score_customer`
    through ..."); a measured finding's fix is the same advice in general terms ("run the
    model call off the loop"). So when the code was read, its fixes are the list; otherwise
    the measured fixes, each dropped when most of its words are already in one kept before.
    """
    static = [f.fix for f in root.findings if f.fix and f.code in root.cause.static]
    candidates = static or [f.fix for f in root.findings if f.fix]
    kept: list[str] = []
    for fix in dict.fromkeys(candidates):
        words = _content_words(fix)
        if static or not any(_overlap(words, _content_words(k)) >= 0.6 for k in kept):
            kept.append(fix)
    return kept


def _content_words(text: str) -> set[str]:
    return set(re.findall(r"[a-z_]{4,}", text.lower()))


def _overlap(a: set[str], b: set[str]) -> float:
    """Share of the smaller set's words found in the other (the overlap coefficient)."""
    return len(a & b) / min(len(a), len(b)) if a and b else 0.0


def _guarded_codes(item: str) -> set[str] | None:
    """The rule codes a prevention command would run, or None when it is not a command."""
    if "infermedic" not in item:
        return None
    selected = re.search(r"--select\s+([A-Z0-9,]+)", item)
    if selected:
        return {c for c in selected.group(1).split(",") if c}
    if "--checks blocking" in item:
        return {"LIVE001"}
    if "--expect-version" in item:
        return {"LIVE007"}
    return None
