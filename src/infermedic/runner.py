"""The one rule runner: selection, per-rule isolation, notifications and `rules_run`.

Every measured domain judges its observations the same way:

    rules = select_rules(RULES, settings.select, settings.ignore)
    outcome = run_rules(rules, observations, unjudged=needs)
    Report(..., findings=outcome.findings, notifications=(*mine, *outcome.notifications),
           rules_run=outcome.rules_run, measurements={..., **outcome.status()})

A rule is a `Rule` subclass with `check(observations) -> Iterable[Finding | Notification]`:
it reads a frozen observations object and yields its findings, plus a notification where it
could not judge (too few samples) or wants something said. It never measures and never
mutates what it reads, so rules can run in any order and a recorded observation replays.

- Selection: `--select/--ignore` entries are resolved against the whole catalogue (one
  config serves every command), so an entry that matches no rule anywhere is a usage error
  with a did-you-mean; the domain keeps the selected rules of its own, in catalogue order.
- Coverage: `unjudged(code, observations)` says why a rule cannot judge this run (its phase
  did not run); such a rule is left out of `rules_run` with an under-powered notification,
  so its silence is not read as "absent".
- Isolation: a rule that raises becomes an error notification naming it; it is listed in
  `rules_failed` and the report's `status` becomes `partial`, which the CLI turns into exit 2
  (`cli.output.emit_report`). A `ConfigError` (a badly typed rule option) still stops the
  run: it is the user's to fix.

To adopt it in another domain (drift): give each rule a `check(<domain observations>)`, list
the rules in the domain's `RULES` tuple, call `select_rules` + `run_rules` where the engine
now loops over its rules, and spread `outcome.status()` into the report's measurements.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from infermedic.errors import ConfigError
from infermedic.model import Finding, Notification, NotificationLevel
from infermedic.rules import Registry, Rule


class CheckingRule(Protocol):
    """What the runner calls: a rule instance judging one observations object."""

    code: str

    def check(self, observations: Any, /) -> Iterable[Finding | Notification]: ...


Unjudged = Callable[[str, Any], str | None]
R = TypeVar("R", bound=Rule)


@dataclass(frozen=True, kw_only=True, slots=True)
class RuleOutcome:
    """What running a domain's selected rules over one observations object gave."""

    findings: tuple[Finding, ...]
    notifications: tuple[Notification, ...]
    rules_run: tuple[str, ...]  # the rules that had what they need and judged
    rules_failed: tuple[str, ...]  # the rules that raised (their notifications say how)

    @property
    def complete(self) -> bool:
        return not self.rules_failed

    def status(self) -> dict[str, Any]:
        """The report measurements the CLI reads to exit 2 on a crashed rule."""
        return {
            "status": "complete" if self.complete else "partial",
            "rules_failed": list(self.rules_failed),
        }


def select_rules(
    domain_rules: Sequence[type[R]],
    select: Iterable[str] = (),
    ignore: Iterable[str] = (),
    *,
    registry: Registry | None = None,
) -> list[type[R]]:
    """The rules of `domain_rules` that `select`/`ignore` leave on, in their order.

    Entries are resolved against the whole catalogue: one naming another domain's rule is
    fine (it just selects none of these), one matching no rule at all is a `ConfigError`.
    """
    catalogue = registry or Registry.default()
    chosen = {r.code for r in catalogue.select(select, ignore)}
    return [r for r in domain_rules if r.code in chosen]


def run_rules(
    rules: Iterable[type[Rule]],
    observations: Any,
    *,
    unjudged: Unjudged | None = None,
) -> RuleOutcome:
    """Run each rule's `check` on `observations`, isolated from the others."""
    findings: list[Finding] = []
    notes: list[Notification] = []
    judged: list[str] = []
    failed: list[str] = []
    for rule in rules:
        reason = unjudged(rule.code, observations) if unjudged is not None else None
        if reason is not None:
            notes.append(
                Notification(
                    level=NotificationLevel.NOTE,
                    rule=rule.code,
                    message=f"{rule.code} not judged: {reason}",
                    underpowered=True,
                )
            )
            continue
        judged.append(rule.code)
        instance: CheckingRule = rule()  # type: ignore[assignment]
        try:
            results = list(instance.check(observations))
        except ConfigError:
            raise
        except Exception as exc:  # noqa: BLE001 - one broken rule must not end the run
            failed.append(rule.code)
            notes.append(
                Notification(
                    level=NotificationLevel.ERROR,
                    rule=rule.code,
                    message=f"rule {rule.code} crashed: {type(exc).__name__}: {exc}",
                    underpowered=True,
                )
            )
            continue
        for result in results:
            if isinstance(result, Finding):
                findings.append(result)
            else:
                notes.append(result)
    return RuleOutcome(
        findings=tuple(findings),
        notifications=tuple(notes),
        rules_run=tuple(judged),
        rules_failed=tuple(failed),
    )
