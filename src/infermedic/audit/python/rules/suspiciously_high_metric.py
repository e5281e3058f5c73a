"""MON004: an offline evaluation metric so high it suggests leakage."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import yaml

from infermedic.audit.project import AuditProject, FileKind, ProjectRule, SourceFile
from infermedic.model import Evidence, EvidenceKind, Finding, Location, Severity

_METRIC_FILE = re.compile(r"metric|eval|score|result", re.IGNORECASE)
_METRIC_KEY = re.compile(
    r"(^|[_.\-\s])(acc|accuracy|auc|roc_auc|auroc|pr_auc|f1|f1_score|precision|recall|r2|"
    r"average_precision|ap|balanced_accuracy|mcc)($|[_.\-\s])",
    re.IGNORECASE,
)
_NOT_SCORE = re.compile(r"loss|error|threshold|min|std|target|goal|expected", re.IGNORECASE)
_MAX_BYTES = 1_000_000


class SuspiciouslyHighMetric(ProjectRule):
    """
    ## What it does
    Checks recorded offline evaluation results for a primary metric (accuracy, AUC, F1,
    precision, recall, R², average precision) above 0.99: JSON and YAML metric files
    (`metrics.json`, `eval_results.yaml`, DVC metrics) and MLflow `mlruns/**/metrics/*`
    files committed with the repository.

    ## Why is this bad?
    Real-world prediction problems rarely score above 0.99 offline. When they do, the
    usual reason is leakage: the target or a post-outcome feature in the inputs, duplicate
    rows across the train/test split, or evaluation on training data. The model then
    ships with a number it will never reach in production, and the gap is found late.

    ## Example
    ```json
    {"model": "churn-gbm", "roc_auc": 0.998, "accuracy": 0.991}
    ```

    Use instead:
    ```json
    {"model": "churn-gbm", "roc_auc": 0.87, "accuracy": 0.83}
    ```

    ## Options
    - `threshold` (float, default 0.99): values strictly above it are reported.

    ## Known problems
    Some tasks do score that high honestly (deduplicated synthetic data, trivial
    classes); suppress the finding with a comment stating why. Metrics logged only to a
    tracking server are not seen.
    """

    code = "MON004"
    name = "suspiciously-high-metric"
    severity = Severity.MEDIUM
    summary = "An offline metric above 0.99 suggests target leakage or evaluation on training data."
    fix = (
        "Check for leakage: features computed after the outcome, duplicates across the "
        "split, evaluation on training rows; re-evaluate on a time-based holdout."
    )
    risk = "The model ships with a score it cannot reach in production."
    checklist = ("D-06",)
    file_kinds = (FileKind.OTHER, FileKind.YAML)

    def check(self, project: AuditProject) -> Iterator[Finding]:
        threshold = float(project.settings.options_for_rule(self.code).get("threshold", 0.99))
        for source in project.files:
            name = source.relpath.rsplit("/", 1)[-1]
            in_mlruns = "mlruns/" in f"/{source.relpath}" and "/metrics/" in source.relpath
            is_metric_file = _METRIC_FILE.search(name) and name.endswith((".json", ".yaml", ".yml"))
            if not (in_mlruns or is_metric_file):
                continue
            text = _read(source)
            if text is None:
                continue
            if in_mlruns:
                yield from self._mlruns(source, name, text, threshold)
            else:
                yield from self._document(source, text, threshold)

    def _document(self, source: SourceFile, text: str, threshold: float) -> Iterator[Finding]:
        try:
            data = json.loads(text) if source.relpath.endswith(".json") else yaml.safe_load(text)
        except (ValueError, yaml.YAMLError):
            return
        for key, value in _numbers(data):
            if _METRIC_KEY.search(key) and not _NOT_SCORE.search(key) and threshold < value <= 1.0:
                line = _line_of(text, key)
                yield self._finding(source, line, text, key, value, threshold)

    def _mlruns(
        self, source: SourceFile, name: str, text: str, threshold: float
    ) -> Iterator[Finding]:
        if not _METRIC_KEY.search(name) or _NOT_SCORE.search(name):
            return
        lines = [line.split() for line in text.splitlines() if line.strip()]
        if not lines or len(lines[-1]) < 2:
            return
        try:
            value = float(lines[-1][1])
        except ValueError:
            return
        if threshold < value <= 1.0:
            yield self._finding(source, len(lines), text, name, value, threshold)

    def _finding(
        self, source: SourceFile, line: int, text: str, key: str, value: float, threshold: float
    ) -> Finding:
        lines = text.splitlines()
        observed = lines[line - 1].strip() if 0 < line <= len(lines) else f"{key}: {value}"
        return self.finding(
            Location(path=source.relpath, line=line),
            f"`{key}` = {value:g} is above {threshold:g}: check for leakage before trusting it",
            evidence=[
                Evidence(
                    kind=EvidenceKind.SOURCE,
                    action=f"{source.relpath}:{line}",
                    observed=observed,
                    values={key: value, "threshold": threshold},
                )
            ],
            fingerprint_key=key,
        )


def _read(source: SourceFile) -> str | None:
    try:
        if source.path.stat().st_size > _MAX_BYTES:
            return None
        return source.read_text()
    except (OSError, UnicodeDecodeError):
        return None


def _numbers(data: Any, prefix: str = "") -> Iterator[tuple[str, float]]:
    if isinstance(data, dict):
        for key, value in data.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                yield str(key) if not prefix else name, float(value)
            else:
                yield from _numbers(value, name)
    elif isinstance(data, list):
        for item in data:
            yield from _numbers(item, prefix)


def _line_of(text: str, key: str) -> int:
    leaf = key.rsplit(".", 1)[-1]
    pattern = re.compile(rf"""(["']?){re.escape(leaf)}\1\s*:""")
    for number, line in enumerate(text.splitlines(), start=1):
        if pattern.search(line):
            return number
    return 1
