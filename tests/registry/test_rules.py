"""The registry rules on recorded registry answers: exact findings, no server."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from infermedic.errors import ConfigError
from infermedic.registry import RegistrySnapshot, ServedVersion, judge_registry
from infermedic.registry.options import RegistryOptions
from infermedic.registry.records import DAY_MS
from infermedic.settings import Settings, load_settings

from .recorded import NOW, RUN_1, V1, V2, snapshot


def _judge(
    snap: RegistrySnapshot,
    served: list[str] | None = None,
    *,
    repo: Path | None = None,
    options: RegistryOptions | None = None,
    select: tuple[str, ...] = ("MON",),
    severities: bool = False,
) -> dict[str, list[str]]:
    """Code -> the findings' messages (or, with `severities`, their severity labels)."""
    report = judge_registry(
        snap,
        served=None
        if served is None
        else [ServedVersion(source="X-Model-Version response header", version=v) for v in served],
        repo=repo,
        options=options or RegistryOptions(),
        settings=Settings(select=select),
    )
    found: dict[str, list[str]] = {}
    for finding in report.findings:
        found.setdefault(finding.code, []).append(
            finding.severity.label if severities else finding.message
        )
    return found


def test_alias_moved_and_the_service_follows_it() -> None:
    found = _judge(snapshot(), ["2"], select=("MON009",))
    (message,) = found["MON009"]
    assert "the service follows @champion, which points to churn v2" in message
    assert "registered 2026-11-30" in message and "predictions changed" in message


def test_service_behind_the_alias_and_mixed_replicas() -> None:
    behind = _judge(snapshot(), ["v1"], select=("MON009",))["MON009"]
    assert behind == [
        "the service serves version 1, but @champion points to churn v2, registered "
        "2026-11-30T08:26:40+00:00, so the alias moved there at or after then (the version "
        "was last updated 2026-11-30T08:27:40+00:00): the next restart or reload changes "
        "predictions"
    ]
    mixed = _judge(snapshot(), ["2", "churn/1"], select=("MON009",))["MON009"]
    assert mixed[0].startswith("replicas serve 2 versions at once (1, 2)")


def test_a_settled_alias_is_quiet() -> None:
    old = replace(V2, creation_ms=NOW - 40 * DAY_MS, last_updated_ms=NOW - 40 * DAY_MS)
    snap = snapshot(versions=(old, V1))
    assert _judge(snap, ["2"], select=("MON009",)) == {}
    # without the service's version, a recent alias move is still worth saying (medium)
    unknown = _judge(snapshot(), None, select=("MON009",))["MON009"]
    assert "the served version was not checked (give --url)" in unknown[0]


def _severities(snap: RegistrySnapshot, served: list[str] | None) -> dict[str, list[str]]:
    return _judge(snap, served, select=("MON009",), severities=True)


def test_mon009_severity_follows_what_is_wrong() -> None:
    """A healthy service that serves its alias's version is quiet when the move is old and
    low when it is recent (it explains changed predictions, it is not a fault); serving
    another version, or two at once, is high; an unchecked service after a recent move is
    medium."""
    settled = replace(V2, creation_ms=NOW - 40 * DAY_MS, last_updated_ms=NOW - 39 * DAY_MS)
    assert _severities(snapshot(versions=(settled, V1)), ["2"]) == {}
    assert _severities(snapshot(), ["2"]) == {"MON009": ["low"]}
    # just past `recent-days` (14) is settled; just inside it is still recent
    edge = replace(V2, creation_ms=NOW - 14 * DAY_MS - 1)
    assert _severities(snapshot(versions=(edge, V1)), ["2"]) == {}
    inside = replace(V2, creation_ms=NOW - 14 * DAY_MS + 60_000)
    assert _severities(snapshot(versions=(inside, V1)), ["2"]) == {"MON009": ["low"]}
    # faults stay high, however old the move
    assert _severities(snapshot(versions=(settled, V1)), ["1"]) == {"MON009": ["high"]}
    assert _severities(snapshot(), ["1", "2"]) == {"MON009": ["high"]}
    assert _severities(snapshot(), None) == {"MON009": ["medium"]}
    assert _severities(snapshot(versions=(settled, V1)), None) == {}


def test_served_version_far_behind_the_alias() -> None:
    (message,) = _judge(snapshot(), ["1"], select=("MON007",))["MON007"]
    assert message == (
        "the service serves churn v1, registered 28.0 days before churn v2 that @champion "
        "points to (limit 7 days)"
    )
    assert (
        _judge(
            snapshot(), ["1"], options=RegistryOptions(max_served_lag_days=30), select=("MON007",)
        )
        == {}
    )
    assert _judge(snapshot(), ["2"], select=("MON007",)) == {}


def test_leakage_names_metric_and_run() -> None:
    (message,) = _judge(snapshot(), None, select=("MON005",))["MON005"]
    assert message == (
        f"churn v2 was trained in run {'b' * 32} (eager-owl): val_roc_auc = 0.997 (above 0.99)"
    )
    # the served v1 is judged too, and its honest scores are not
    assert list(_judge(snapshot(), ["1"], select=("MON005",))) == ["MON005"]


def test_validation_matching_training_hints_at_overlap() -> None:
    run = replace(RUN_1, metrics={"val_accuracy": 0.975, "train_accuracy": 0.97})
    snap = snapshot(alias_version="1", versions=(V2, V1), runs=(run,))
    (message,) = _judge(snap, None, select=("MON005",))["MON005"]
    assert "held-out val_accuracy = 0.975 is not below training train_accuracy = 0.97" in message
    honest = replace(RUN_1, metrics={"val_accuracy": 0.95, "train_accuracy": 0.98})
    assert _judge(snapshot(alias_version="1", runs=(honest,)), None, select=("MON005",)) == {}


def test_gate_tags_and_evaluation_run() -> None:
    (message,) = _judge(snapshot(), None, select=("MON006",))["MON006"]
    assert message == (
        "@champion points to churn v2 without the promotion gate's evidence: tag "
        "`validation_status` is missing"
    )
    gated = snapshot(alias_version="1")
    assert _judge(gated, None, select=("MON006",)) == {}
    strict = RegistryOptions(
        gate_tags={"validation_status": "passed"}, gate_evaluation_tag="evaluation_run_id"
    )
    (message,) = _judge(gated, None, options=strict, select=("MON006",))["MON006"]
    assert "tag `validation_status` is 'approved', not 'passed'" in message
    assert "no `evaluation_run_id` tag names an evaluation run" in message
    evaluated = replace(V1, tags={**V1.tags, "evaluation_run_id": "c" * 32})
    missing_run = snapshot(alias_version="1", versions=(V2, evaluated))
    options = RegistryOptions(gate_evaluation_tag="evaluation_run_id")
    (message,) = _judge(missing_run, None, options=options, select=("MON006",))["MON006"]
    assert f"evaluation run {'c' * 32} (tag `evaluation_run_id`) does not exist" in message


def test_logged_libraries_against_the_repo_pins(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text(
        "fastapi==0.110.0\nscikit-learn==1.4.2\nnumpy==2.4.0\n", encoding="utf-8"
    )
    report = judge_registry(
        snapshot(),
        served=None,
        repo=tmp_path,
        options=RegistryOptions(),
        settings=Settings(select=("MON008",)),
    )
    (finding,) = report.findings
    assert finding.message == (
        "churn v2 was logged with other libraries than the service pins: scikit-learn 1.9.1 "
        "logged vs 1.4.2 pinned"
    )
    assert finding.location.path == "requirements.txt" and finding.location.line == 2
    (tmp_path / "requirements.txt").write_text("scikit-learn==1.9.1\n", encoding="utf-8")
    assert _judge(snapshot(), None, repo=tmp_path, select=("MON008",)) == {}


def test_what_was_not_judged_is_said() -> None:
    report = judge_registry(
        snapshot(), served=None, repo=None, options=RegistryOptions(), settings=Settings()
    )
    underpowered = {n.rule for n in report.notifications if n.underpowered}
    assert underpowered == {"MON007", "MON008"}
    assert report.measurements["registry"]["alias_version"] == "2"


def test_snapshot_round_trips_through_json() -> None:
    snap = snapshot()
    assert RegistrySnapshot.from_dict(snap.to_dict()) == snap


def test_registry_options_reject_unknown_keys(tmp_path: Path) -> None:
    config = tmp_path / "pyproject.toml"
    config.write_text(
        '[tool.infermedic.registry]\ngate-tag = ["validation_status"]\n', encoding="utf-8"
    )
    with pytest.raises(ConfigError, match="unknown key.*gate-tag"):
        load_settings(config)
    config.write_text(
        "[tool.infermedic.registry]\nmax-served-lag-days = 3\n"
        'gate-tags = { validation_status = "approved" }\n',
        encoding="utf-8",
    )
    settings = load_settings(config)
    options = RegistryOptions.from_mapping(settings.options_for_engine("registry"))
    assert options.max_served_lag_days == 3.0
    assert options.gate_tags == {"validation_status": "approved"}
    with pytest.raises(ConfigError, match="retries"):
        RegistryOptions.from_mapping({"retries": "many"})
