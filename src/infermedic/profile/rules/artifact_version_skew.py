"""PROF012: the artifact was saved with other library versions than it runs with."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from infermedic.model import Finding, Severity
from infermedic.profile.context import ProfileObservations, ProfileRule

# scikit-learn supports no pickle across any two releases, patch releases included; for the
# other libraries (and Python) a skew in major.minor is the one that changes behaviour.
_EXACT = {"sklearn"}
_NAMES = {"sklearn": "scikit-learn", "python": "Python"}
_RELEASE = re.compile(r"\d+(?:\.\d+)*")


class ArtifactVersionSkew(ProfileRule):
    """## What it does
    Checks whether the model artifact was saved with other versions of the libraries it
    depends on (scikit-learn, XGBoost, LightGBM, MLflow, NumPy, pandas, Python ...) than the
    ones loading it.

    ## Why is this bad?
    scikit-learn does not support loading pickles across versions: attributes are renamed
    or reinterpreted between releases, so the model may load and still predict differently,
    or fail on the first request after a dependency upgrade. Other libraries change
    defaults and formats between minor releases, and a cloudpickled model needs the Python
    minor version it was pickled with.

    ## How it's measured
    The model is loaded in a worker process with every warning recorded; scikit-learn's
    `InconsistentVersionWarning` names each estimator with the version it was saved with and
    the version loading it. Versions the artifact records are compared with those running:
    the `version` in an XGBoost JSON/UBJSON model, and in an MLflow model directory the
    MLmodel file's `mlflow_version`, each flavour's library version (`sklearn_version`,
    `xgb_version`, `lgb_version` ...), its `python_version`, and the pins of model libraries
    in `requirements.txt` and `python_env.yaml`. scikit-learn must match exactly, other
    libraries and Python in major.minor; mlflow counts only when it loaded the model. A
    LightGBM text model records only its format version (`version=v4`), so it is never
    compared. Fires once per artifact, listing every library affected.

    ## References
    - https://scikit-learn.org/stable/model_persistence.html#security-maintainability-limitations
    - https://mlflow.org/docs/latest/ml/model/dependencies/
    """

    code: ClassVar[str] = "PROF012"
    name: ClassVar[str] = "artifact-version-skew"
    severity: ClassVar[Severity] = Severity.HIGH
    summary: ClassVar[str] = (
        "The model was saved with a different library version than it runs with."
    )
    fix: ClassVar[str] = (
        "Pin the serving environment to the versions the model was trained with (record them "
        "next to the artifact), or retrain and re-export with the serving versions; prefer a "
        "version-independent format such as ONNX or skops."
    )
    risk: ClassVar[str] = "Predictions may silently change, or loading fails after an upgrade."
    phases: ClassVar[tuple[str, ...]] = ("load",)
    checklist: ClassVar[tuple[str, ...]] = ("D-05",)

    def check(self, observations: ProfileObservations) -> Iterator[Finding]:
        load = observations.results.load
        if load is None:
            return
        warnings = load.version_warnings
        skews = recorded_skews(load.saved_with, load.loaded_with)
        values: dict[str, Any] = {}
        parts: list[str] = []
        observed = "compared the versions the artifact records with those loading it"
        if warnings:
            saved = sorted({w.saved_with for w in warnings})
            current = sorted({w.loaded_with for w in warnings})
            estimators = sorted({w.estimator for w in warnings})
            parts.append(
                f"saved with scikit-learn {', '.join(saved)}, loaded with {', '.join(current)} "
                f"({', '.join(estimators)})"
            )
            values.update(
                saved_with=saved,
                loaded_with=current,
                estimators=estimators,
                warning=warnings[0].message,
            )
            observed = "loaded the pickle with warnings recorded: InconsistentVersionWarning"
            # The warning already told scikit-learn's side, from the pickle itself.
            skews = {k: v for k, v in skews.items() if k != "sklearn"}
        if not parts and not skews:
            return
        parts.extend(
            f"{_NAMES.get(library, library)} {pair['saved_with']} recorded, "
            f"{pair['loaded_with']} loaded"
            for library, pair in skews.items()
        )
        values["libraries"] = skews
        evidence = observations.evidence(observed, **values)
        yield self.finding(observations.location, "; ".join(parts), evidence=[evidence])


def recorded_skews(
    saved_with: Mapping[str, str], loaded_with: Mapping[str, str]
) -> dict[str, dict[str, str]]:
    """The libraries whose recorded and loaded versions differ where it matters."""
    skews: dict[str, dict[str, str]] = {}
    for library in sorted(saved_with.keys() & loaded_with.keys()):
        saved, loaded = str(saved_with[library]), str(loaded_with[library])
        depth = None if library in _EXACT else 2
        if _release(saved, depth) != _release(loaded, depth):
            skews[library] = {"saved_with": saved, "loaded_with": loaded}
    return skews


def _release(version: str, depth: int | None) -> tuple[int, ...] | str:
    """The leading release numbers (`depth` of them, all when None); the text if none."""
    match = _RELEASE.search(version)
    if match is None:
        return version
    numbers = [int(part) for part in match.group(0).split(".")]
    if depth is not None:
        return tuple((numbers + [0] * depth)[:depth])
    while len(numbers) > 1 and numbers[-1] == 0:
        numbers.pop()  # 1.9 and 1.9.0 are one release
    return tuple(numbers)
