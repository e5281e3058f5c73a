"""Recorded registry answers: what an MLflow server returned for a model `churn` whose
@champion moved from version 1 to version 2, as the frozen records the rules read."""

from __future__ import annotations

from dataclasses import replace

from infermedic.registry.records import DAY_MS, RegistrySnapshot, RunRecord, VersionRecord

NOW = 1_796_200_000_000  # the fetch time, epoch ms
V1_CREATED = NOW - 30 * DAY_MS
V2_CREATED = NOW - 2 * DAY_MS

RUN_1 = RunRecord(
    run_id="a" * 32,
    run_name="calm-fox",
    status="FINISHED",
    metrics={"val_accuracy": 0.87, "training_accuracy": 0.89, "val_log_loss": 0.31},
    tags={"validation_status": "approved"},
)
RUN_2 = RunRecord(
    run_id="b" * 32,
    run_name="eager-owl",
    status="FINISHED",
    metrics={"val_roc_auc": 0.997, "training_roc_auc": 0.999, "val_log_loss": 0.02},
)
V1 = VersionRecord(
    name="churn",
    version="1",
    run_id=RUN_1.run_id,
    creation_ms=V1_CREATED,
    last_updated_ms=V1_CREATED,
    tags={"validation_status": "approved"},
    libraries={"scikit-learn": "1.9.1", "numpy": "2.4.0"},
)
V2 = VersionRecord(
    name="churn",
    version="2",
    run_id=RUN_2.run_id,
    creation_ms=V2_CREATED,
    last_updated_ms=V2_CREATED + 60_000,
    aliases=("champion",),
    libraries={"scikit-learn": "1.9.1", "numpy": "2.4.0"},
)


def snapshot(**changes: object) -> RegistrySnapshot:
    """@champion -> v2 (registered two days ago), v1 a month old; override any field."""
    base = RegistrySnapshot(
        tracking_uri="http://***@mlflow.internal:5000",
        name="churn",
        alias="champion",
        alias_version="2",
        aliases={"champion": "2"},
        model_last_updated_ms=V2_CREATED + 60_000,
        versions=(V2, V1),
        runs=(RUN_2, RUN_1),
        fetched_ms=NOW,
    )
    return replace(base, **changes)  # type: ignore[arg-type]
