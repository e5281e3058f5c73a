"""MON008: the libraries logged with the registered version differ from the serving repo's pins."""

from __future__ import annotations

from infermedic.model import Evidence, EvidenceKind, Finding, Location
from infermedic.registry.rules.base import RegistryContext, RegistryRule


class RegistryLibrarySkew(RegistryRule):
    """Registered version's libraries differ from the serving pins.

    ## What it does
    Compares the library versions logged with each checked version's artifact (its MLmodel
    flavours and `requirements.txt`: scikit-learn, XGBoost, LightGBM, numpy, scipy, pandas,
    torch, ONNX Runtime, cloudpickle, skops) with the exact pins of the serving repository
    (`requirements*.txt`, `pyproject.toml`). It extends PROF012, which checks one loaded
    artifact, to every version the alias and the service name in the registry.

    ## Why is this bad?
    A model unpickled under another scikit-learn or numpy than it was saved with can load
    with warnings and predict differently, or fail to load at the next restart. The
    registry knows what each version needs; the serving image pins something else.

    ## How it's measured
    - Statistic: the set of compared libraries whose logged and pinned versions differ.
    - Window: the alias target and the served versions as the registry returns them now.
    - Minimum samples: a version with a readable MLmodel and a repo with an exact pin.
    - Default threshold: any difference in a compared library's version.
    """

    code = "MON008"
    name = "registry-library-version-skew"
    summary = (
        "A registered version was logged with other library versions than the serving repo pins."
    )
    risk = (
        "The service unpickles the model under other libraries: wrong predictions or a failed load."
    )
    fix = (
        "Pin the serving image to the versions logged with the model version (its "
        "requirements.txt), or re-log the model under the serving versions."
    )

    def check(self, ctx: RegistryContext) -> list[Finding]:
        if ctx.repo_pins is None:
            return []
        findings = []
        for version in ctx.checked_versions():
            differing = {
                name: (logged, ctx.repo_pins[name])
                for name, logged in sorted(version.libraries.items())
                if name in ctx.repo_pins and ctx.repo_pins[name] != logged
            }
            if not differing:
                continue
            listed = ", ".join(
                f"{name} {logged} logged vs {pinned} pinned"
                for name, (logged, pinned) in differing.items()
            )
            first = next(iter(differing))
            where = ctx.pin_where.get(first, "")
            path, _, line = where.partition(":")
            findings.append(
                self.finding(
                    Location(path=path or None, line=int(line) if line.isdigit() else None),
                    f"{version.label()} was logged with other libraries than the service "
                    f"pins: {listed}",
                    evidence=[
                        Evidence(
                            kind=EvidenceKind.COMMAND,
                            action="MLmodel and requirements.txt of "
                            f"models:/{version.name}/{version.version}",
                            observed=listed,
                            values={
                                "logged": dict(version.libraries),
                                "pinned": {n: ctx.repo_pins[n] for n in differing},
                                "pinned_at": {n: ctx.pin_where.get(n) for n in differing},
                            },
                        )
                    ],
                    fingerprint_key=f"{version.name}/{version.version}",
                )
            )
        return findings
