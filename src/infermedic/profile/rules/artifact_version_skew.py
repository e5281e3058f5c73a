"""PROF012: the artifact was saved with other library versions than it runs with."""

from __future__ import annotations

from typing import ClassVar

from infermedic.model import Finding, Severity
from infermedic.profile.context import ProfileContext, ProfileRule


class ArtifactVersionSkew(ProfileRule):
    """## What it does
    Checks whether a pickled scikit-learn model was saved with another scikit-learn version
    than the one loading it.

    ## Why is this bad?
    scikit-learn does not support loading pickles across versions: attributes are renamed
    or reinterpreted between releases, so the model may load and still predict differently,
    or fail on the first request after a dependency upgrade.

    ## How it's measured
    The pickle is loaded in a worker process with every warning recorded; scikit-learn's
    `InconsistentVersionWarning` names each estimator with the version it was saved with and
    the version loading it. Fires once per artifact, listing every estimator affected.

    ## References
    - https://scikit-learn.org/stable/model_persistence.html#security-maintainability-limitations
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
    checklist: ClassVar[tuple[str, ...]] = ("D-05",)

    def check(self, context: ProfileContext) -> list[Finding]:
        load = context.phase("load")
        if load is None or not load["version_warnings"]:
            return []
        warnings = load["version_warnings"]
        saved = sorted({w["saved_with"] for w in warnings})
        current = sorted({w["loaded_with"] for w in warnings})
        estimators = sorted({w["estimator"] for w in warnings})
        message = (
            f"saved with scikit-learn {', '.join(saved)}, loaded with {', '.join(current)} "
            f"({', '.join(estimators)})"
        )
        evidence = context.evidence(
            "loaded the pickle with warnings recorded: InconsistentVersionWarning",
            saved_with=saved,
            loaded_with=current,
            estimators=estimators,
            warning=warnings[0]["message"],
        )
        return [self.finding(context.location, message, evidence=[evidence])]
