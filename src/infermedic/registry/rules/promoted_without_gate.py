"""MON006: the version an alias points to carries none of the promotion gate's evidence."""

from __future__ import annotations

from infermedic.model import Finding
from infermedic.registry.rules.base import RegistryContext, RegistryRule, version_evidence


class PromotedWithoutGate(RegistryRule):
    """Promoted without the quality gate.

    ## What it does
    Checks the version the alias points to for what the project's promotion gate leaves
    behind: the version tags the gate sets (by default `validation_status`, MLflow's own
    convention; or `tag = "value"` pairs), and, when `gate-evaluation-tag` is set, a tag
    naming an evaluation run that exists and finished. Tags on the version's training run
    count too.

    ## Why is this bad?
    An alias that moves without a gate puts any trained model in front of traffic: a
    regression, a leaked metric or a broken artifact reaches production with nothing
    recorded to show it was ever checked, and there is nothing to roll back to by rule.

    ## How it's measured
    - Statistic: presence (and value) of each required tag; the status of the named run.
    - Window: the alias target as the registry returns it now.
    - Minimum samples: an alias that points to a version.
    - Default threshold: any required tag missing or with another value.

    ## Options
    `[tool.infermedic.registry]`: `gate-tags` (a list of tag names, or a table of
    `tag = "required value"`), `gate-evaluation-tag`.
    """

    code = "MON006"
    name = "promoted-without-quality-gate"
    summary = (
        "The alias points to a version without the tags or evaluation run the promotion "
        "gate requires."
    )
    risk = "Unchecked models reach traffic; nothing shows a gate ever ran."
    fix = (
        "Move aliases only from a gate that evaluates the candidate against the current "
        "champion and records the outcome as version tags (and the evaluation run's id)."
    )
    checklist = ("D-12",)

    def check(self, ctx: RegistryContext) -> list[Finding]:
        target = ctx.snapshot.target
        if target is None:
            return []
        run = ctx.snapshot.run(target.run_id)
        tags = {**(run.tags if run is not None else {}), **target.tags}
        missing: list[str] = []
        for tag, wanted in ctx.options.gate_tags.items():
            if tag not in tags:
                missing.append(f"tag `{tag}` is missing")
            elif wanted is not None and tags[tag] != wanted:
                missing.append(f"tag `{tag}` is {tags[tag]!r}, not {wanted!r}")
        evaluation_tag = ctx.options.gate_evaluation_tag
        if evaluation_tag is not None:
            run_id = tags.get(evaluation_tag)
            evaluation = ctx.snapshot.run(run_id) if run_id else None
            if run_id is None:
                missing.append(f"no `{evaluation_tag}` tag names an evaluation run")
            elif evaluation is None:
                missing.append(f"evaluation run {run_id} (tag `{evaluation_tag}`) does not exist")
            elif evaluation.status != "FINISHED":
                missing.append(f"evaluation run {run_id} is {evaluation.status}, not FINISHED")
        if not missing:
            return []
        alias = ctx.snapshot.alias
        action = f"MlflowClient.get_model_version_by_alias({target.name!r}, {alias!r})"
        return [
            self.finding(
                ctx.location,
                f"@{alias} points to {target.label()} without the promotion gate's evidence: "
                + "; ".join(missing),
                evidence=[version_evidence(target, action=action)],
                fingerprint_key=f"{target.name}/{target.version}",
            )
        ]
