"""The shared vocabulary of every engine: severities, locations, evidence, findings, reports."""

from __future__ import annotations

import enum
import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any


class Severity(enum.IntEnum):
    """How much a finding matters; ordered so `--fail-on` and sorting are comparisons."""

    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def label(self) -> str:
        """The only serialised form; the integer value is never written out."""
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        """Read a severity from user text (`high`, `HIGH`); raises `ValueError` on anything else."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            choices = ", ".join(s.label for s in cls)
            raise ValueError(f"unknown severity {text!r} (choose from {choices})") from None


class NotificationLevel(enum.StrEnum):
    """SARIF's notification levels, which also order how loudly a notification is shown."""

    NOTE = "note"
    WARNING = "warning"
    ERROR = "error"


class EvidenceKind(enum.StrEnum):
    """What produced a piece of evidence."""

    SOURCE = "source"  # a line of code or configuration that was read
    REQUEST = "request"  # an HTTP request sent to the target, and its response
    COMMAND = "command"  # a command or library call that was run
    MEASUREMENT = "measurement"  # numbers measured over many requests or calls
    STATISTIC = "statistic"  # a statistical test on data


@dataclass(frozen=True, kw_only=True, slots=True)
class Location:
    """Where a finding is: a file line, an endpoint of a live service, or a data column.

    Lines and columns are 1-based. Any field may be absent; a whole-file finding has a path
    and no line.
    """

    path: str | None = None
    line: int | None = None
    column: int | None = None
    end_line: int | None = None
    url: str | None = None
    endpoint: str | None = None  # "POST /predict"
    dataset: str | None = None
    column_name: str | None = None  # a data column (drift), not a source column

    def describe(self) -> str:
        """A short human form: `app/main.py:42:5`, `POST /predict`, `current.parquet[age]`."""
        if self.path is not None:
            text = self.path
            if self.line is not None:
                text += f":{self.line}"
                if self.column is not None:
                    text += f":{self.column}"
            return text
        if self.endpoint is not None or self.url is not None:
            return " ".join(p for p in (self.endpoint, self.url) if p)
        if self.dataset is not None or self.column_name is not None:
            base = self.dataset or ""
            return f"{base}[{self.column_name}]" if self.column_name else base
        return "-"


@dataclass(frozen=True, kw_only=True, slots=True)
class Evidence:
    """One fact behind a claim: what was run, read or sent, and what came back.

    `action` is the command, request or file line; `observed` is what came back in words;
    `values` holds the measured numbers (JSON-serialisable) for tools and plots.
    """

    kind: EvidenceKind
    action: str
    observed: str
    values: Mapping[str, Any] = field(default_factory=dict)
    at: str | None = None  # ISO-8601 time the evidence was taken, when it matters


@dataclass(frozen=True, kw_only=True, slots=True)
class Effect:
    """The size of a measured effect and the criterion it was judged by.

    `value` is the statistic (a ratio, a share, a difference), `interval` its confidence
    interval where the rule computed one, `threshold` the minimum effect the rule fires at,
    and `strong` the size that no noise on the measuring host could produce: an effect whose
    lower bound (or value, without an interval) reaches `strong` is "large and clean" and
    confirms a cause on its own, even on a busy host.
    """

    statistic: str  # what `value` is, in words: "health p99 loaded / idle"
    value: float
    threshold: float
    strong: float
    unit: str = "×"
    interval: tuple[float, float] | None = None  # (low, high), 95% unless `criterion` says

    @property
    def lower(self) -> float:
        return self.interval[0] if self.interval is not None else self.value

    @property
    def large(self) -> bool:
        return self.lower >= self.strong

    def criterion(self) -> str:
        """The rule as a sentence the report prints."""
        if math.isinf(self.strong):
            alone = "never enough alone (a busy host produces it too)"
        else:
            alone = f"large enough to stand alone at ≥ {self.strong:.3g}{self.unit}"
        shown = f"{self.value:.3g}{self.unit}"
        if self.interval is not None:
            shown += f" (95% CI {self.interval[0]:.3g}–{self.interval[1]:.3g}{self.unit})"
        return f"{self.statistic} = {shown}; fires at ≥ {self.threshold:.3g}{self.unit}; {alone}"


@dataclass(frozen=True, kw_only=True, slots=True)
class Finding:
    """One diagnosed problem, with its rule, location, evidence, risk and fix."""

    code: str
    name: str
    severity: Severity
    message: str
    location: Location
    evidence: tuple[Evidence, ...] = ()
    risk: str = ""
    fix: str = ""
    checklist: tuple[str, ...] = ()
    # how large a measured effect was, against the rule's minimum; None for static findings
    effect: Effect | None = None
    # What identifies the finding across edits; line numbers are left out on purpose so a
    # baseline survives code moving. Defaults to path + message.
    fingerprint_key: str = ""

    @property
    def fingerprint(self) -> str:
        where = self.location.path or self.location.url or self.location.dataset or ""
        key = self.fingerprint_key or self.message
        parts = (self.code, where, self.location.endpoint or "", self.location.column_name or "")
        digest = hashlib.sha256("\x1f".join((*parts, key)).encode()).hexdigest()
        return digest[:32]

    def sort_key(self) -> tuple[Any, ...]:
        loc = self.location
        return (
            -int(self.severity),
            loc.path or loc.url or loc.dataset or "",
            loc.line or 0,
            loc.column or 0,
            self.code,
            self.message,
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class Notification:
    """Something the run could not do or wants said: a skipped file, a crashed rule, low power."""

    level: NotificationLevel
    message: str
    path: str | None = None
    rule: str | None = None
    # set when `rule` could not judge for lack of data (too few samples, a phase that did not
    # run): that rule's silence is then no evidence that its fault is absent
    underpowered: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class Table:
    """A measured table an engine wants shown (latency per step, drift per column)."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    key: str = ""  # stable identifier for tools reading the JSON


@dataclass(frozen=True, kw_only=True, slots=True)
class Series:
    """One named line or set of bars in a plot."""

    name: str
    x: tuple[float | str, ...]
    y: tuple[float, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class Plot:
    """A plot as data; the HTML report draws it as inline SVG, JSON carries the numbers."""

    title: str
    kind: str  # "line" | "bar" | "step"
    x_label: str
    y_label: str
    series: tuple[Series, ...]
    key: str = ""
    x_scale: str = "linear"  # "linear" | "log": log where values span decades (batch sizes)
    y_scale: str = "linear"
    # "full": as wide as the page; "small": one of a grid of small multiples (drift's columns)
    size: str = "full"


@dataclass(frozen=True, kw_only=True, slots=True)
class Report:
    """What one engine run produced. Every output format renders from this."""

    tool: str  # "audit" | "probe" | "drift" | "profile" | "diagnose"
    findings: tuple[Finding, ...] = ()
    notifications: tuple[Notification, ...] = ()
    rules_run: tuple[str, ...] = ()
    inputs: tuple[str, ...] = ()  # what was examined (paths, URL, datasets), without secrets
    tables: tuple[Table, ...] = ()
    plots: tuple[Plot, ...] = ()
    measurements: Mapping[str, Any] = field(default_factory=dict)
    started_at: str | None = None
    duration_s: float | None = None
    # one line that answers "what is wrong", shown first by every format ("3 of 25 columns
    # drifted; predictions shifted")
    headline: str = ""

    def sorted(self) -> Report:
        return replace(self, findings=tuple(sorted(self.findings, key=Finding.sort_key)))

    def worst(self) -> Severity | None:
        return max((f.severity for f in self.findings), default=None)

    def with_findings(self, findings: Iterable[Finding]) -> Report:
        return replace(self, findings=tuple(findings))
