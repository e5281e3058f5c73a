"""How the findings of the checks decide each cause: the one judge of a diagnosis.

Statuses, and what each needs:
- confirmed: measured evidence beyond noise: a measured effect the host cannot fake (a wrong
  response, a version, a memory slope, a statistical test; a timing effect only when it is
  large), or two independent sources that agree (static + measured, or two measured checks);
- suspected: static evidence alone, or one measured timing effect that noise on the host (or
  its small size) could explain;
- inconclusive: a check that covers the cause ran but could not decide (too few samples, the
  cause-specific check found nothing while a shared symptom was measured);
- not tested: no check that covers it ran to completion (skipped, failed, or the phase that
  would show it did not run) — the reason names the input or command that would test it;
- refuted: a measured check that covers the cause ran to completion, judged the codes that
  would show it, and saw none of them; or the cause needs an event loop and the service
  measurably runs none (py-spy on the serving process, or a route index of WSGI handlers
  only), whatever LIVE001 read (a busy pool of synchronous workers reads the same).

A check that did not run, crashed or lacked power is never evidence against a cause, and the
static audit's silence is not either (it sees only the patterns it knows).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from infermedic.diagnose.causes import (
    CAUSES,
    LIVE_PROFILE_CODES,
    TIMING_CODES,
    Cause,
    CheckKind,
    check_for_code,
)
from infermedic.diagnose.router import Category
from infermedic.model import Finding, Severity

__all__ = [
    "CAUSES",
    "LIVE_PROFILE_CODES",
    "Cause",
    "CheckKind",
    "Coverage",
    "Hypothesis",
    "Status",
    "check_for_code",
    "evaluate",
]


class Status(enum.StrEnum):
    CONFIRMED = "confirmed"
    SUSPECTED = "suspected"
    INCONCLUSIVE = "inconclusive"
    NOT_TESTED = "not tested"
    REFUTED = "refuted"


@dataclass(frozen=True, kw_only=True)
class Coverage:
    """What one check that ran could see: the rule codes it judged with the data they need,
    the ones that lacked power, and whether the host was too busy for timing effects.

    `judged` None means every code of the check was judged (a check without per-rule
    coverage, such as the audit). `noisy` is the reason the host could explain a timing
    effect, or None on a quiet host.
    """

    kind: CheckKind
    judged: frozenset[str] | None = None
    underpowered: Mapping[str, str] = field(default_factory=dict)  # code -> why
    noisy: str | None = None
    # why the sampled serving process measurably runs no event loop (profile only), or None
    no_event_loop: str | None = None

    def judges(self, code: str) -> bool:
        if code in self.underpowered:
            return False
        return self.judged is None or code in self.judged


@dataclass(frozen=True, kw_only=True)
class Hypothesis:
    """One cause judged against the evidence of the checks that ran."""

    cause: Cause
    status: Status
    findings: tuple[Finding, ...]
    sources: tuple[CheckKind, ...]  # independent checks whose findings support it
    reason: str
    in_symptom: bool = True  # the cause explains a category the symptom routed to
    stated: bool = True  # ... one the user's words name directly (not only implied)
    # ... and it is the cause's own first category (the leakage behind a promotion is first an
    # accuracy cause; an alias move is first a "predictions changed" one)
    primary: bool = True
    # the measured findings behind it are all timing effects the host's noise could explain
    noisy: bool = False
    rank_bonus: int = 0  # set when this cause refines another confirmed cause

    @property
    def eligible_root(self) -> bool:
        """Can name the root cause: confirmed, or suspected on static evidence (the pattern is
        in the code). A lone measured timing effect that noise could explain is never named,
        and neither is a low-severity static finding alone: the audit lowers a finding to low
        when it matters only in a setting it cannot see (workers per container with no pods in
        sight, a timeout missing outside the request path), which is advice, not a cause."""
        if self.status is Status.CONFIRMED:
            return True
        static = [f for f in self.findings if check_for_code(f.code) is CheckKind.AUDIT]
        return self.status is Status.SUSPECTED and any(
            f.severity >= Severity.MEDIUM for f in static
        )

    @property
    def score(self) -> tuple[int, ...]:
        """Ranking: in-symptom, status, refinement, independent sources, measured severity."""
        rank = {
            Status.CONFIRMED: 4,
            Status.SUSPECTED: 3,
            Status.INCONCLUSIVE: 2,
            Status.NOT_TESTED: 1,
            Status.REFUTED: 0,
        }
        measured = [f for f in self.findings if check_for_code(f.code).measured]
        worst_measured = max((int(f.severity) for f in measured), default=-1)
        worst_any = max((int(f.severity) for f in self.findings), default=-1)
        order = -[c.key for c in CAUSES].index(self.cause.key)
        supported = self.status in (Status.CONFIRMED, Status.SUSPECTED)
        return (
            int(self.in_symptom or not supported),
            rank[self.status],
            int(self.stated),
            int(self.eligible_root),
            self.rank_bonus,
            len(self.sources),
            # between equally supported causes, the one whose main category the user named
            # before the one that is only also in it; a finding's standalone severity after
            int(self.primary),
            worst_measured,
            worst_any,
            order,
        )


def evaluate(
    categories: Sequence[Category],
    findings_by_check: Mapping[CheckKind, Sequence[Finding]],
    coverage: Iterable[CheckKind] | Mapping[CheckKind, Coverage],
    *,
    stated: Sequence[Category] | None = None,
    failed: Mapping[CheckKind, str] | None = None,
) -> list[Hypothesis]:
    """Judge every cause; the ones that explain the symptom's categories rank first (the
    others are "also found" and name the root cause only when no in-symptom cause has
    support). `coverage` maps each check that ran to what it could see; a plain iterable of
    check kinds means they ran with full coverage on a quiet host."""
    if isinstance(coverage, Mapping):
        covered: dict[CheckKind, Coverage] = dict(coverage)
    else:
        covered = {kind: Coverage(kind=kind) for kind in coverage}
    findings = [f for fs in findings_by_check.values() for f in fs]
    all_codes = {f.code for f in findings}
    wanted = set(categories)
    named = set(stated if stated else categories)
    broken = dict(failed or {})
    no_loop = next((c.no_event_loop for c in covered.values() if c.no_event_loop), None)
    if no_loop:
        # with no loop to block, a loop reading is a busy worker pool: it explains nothing
        # better than another cause (a lock behind it, say) and excludes none
        all_codes -= LOOP_CODES
    judged = [
        replace(
            _judge(
                cause,
                findings,
                covered,
                all_codes,
                bool(wanted & set(cause.categories)),
                broken,
                no_loop=no_loop,
            ),
            stated=bool(named & set(cause.categories)),
            primary=cause.categories[0] in named,
        )
        for cause in CAUSES
    ]
    confirmed = {h.cause.key for h in judged if h.status is Status.CONFIRMED}
    judged = [
        replace(h, rank_bonus=1)
        if h.status is Status.CONFIRMED and h.cause.refines in confirmed
        else h
        for h in judged
    ]
    # Out-of-symptom causes with no support are noise in the report: keep only those that
    # something was found for.
    kept = [
        h
        for h in judged
        if h.in_symptom or h.status in (Status.CONFIRMED, Status.SUSPECTED, Status.INCONCLUSIVE)
    ]
    return sorted(kept, key=lambda h: h.score, reverse=True)


# The measured codes that read a blocked event loop (the confirming codes of the causes that
# need one).
LOOP_CODES = frozenset(c for cause in CAUSES if cause.needs_event_loop for c in cause.confirming)


def _solid(finding: Finding, covered: Mapping[CheckKind, Coverage]) -> tuple[bool, str]:
    """Whether one measured finding confirms on its own, and if not, why not."""
    if finding.code not in TIMING_CODES:
        return True, ""
    effect = finding.effect
    if effect is not None and effect.large:
        return True, ""
    check = covered.get(check_for_code(finding.code))
    if check is not None and check.noisy:
        return False, f"noisy host: {check.noisy}"
    if effect is None:
        return False, f"{finding.code} is a timing effect with no stated size"
    return False, f"{finding.code}'s effect is below the stand-alone level ({effect.criterion()})"


def _judge(
    cause: Cause,
    findings: Sequence[Finding],
    covered: Mapping[CheckKind, Coverage],
    all_codes: set[str],
    in_symptom: bool,
    failed: Mapping[CheckKind, str],
    *,
    no_loop: str | None = None,
) -> Hypothesis:
    support = tuple(f for f in findings if f.code in cause.codes)
    codes = {f.code for f in support}
    sources = tuple(k for k in CheckKind if any(check_for_code(f.code) is k for f in support))
    found_static = sorted(codes & set(cause.static))
    found_confirming = sorted(codes & set(cause.confirming))
    found_corroborating = sorted(codes & set(cause.corroborating))
    excluded = sorted(set(cause.excluded_by) & all_codes)
    measured = [f for f in support if check_for_code(f.code).measured]
    independent = len(sources) >= 2 and bool(measured)

    def judged(status: Status, reason: str, *, noisy: bool = False) -> Hypothesis:
        return Hypothesis(
            cause=cause,
            status=status,
            findings=support,
            sources=sources,
            reason=reason,
            in_symptom=in_symptom,
            noisy=noisy,
        )

    if excluded and (found_confirming or found_corroborating):
        return judged(Status.REFUTED, f"{', '.join(excluded)} explain(s) the evidence better")
    if cause.needs_event_loop and no_loop and not found_static:
        # Static evidence (an async route) would say the sampled process was the wrong one;
        # without it, a measured process with no loop has nothing for work to block.
        queued = (
            "; LIVE001's health check queued behind predictions because every synchronous "
            "worker was busy (capacity, not a blocked loop)"
            if "LIVE001" in codes
            else ""
        )
        return judged(Status.REFUTED, f"{no_loop}{queued}")

    if found_confirming or (found_static and found_corroborating):
        what = ", ".join(found_confirming or found_corroborating)
        static = f" and static {', '.join(found_static)}" if found_static else ""
        if independent:
            names = " + ".join(k.value for k in sources)
            return judged(
                Status.CONFIRMED,
                f"two independent sources agree ({names}): measured {what}{static}",
            )
        confirming = [f for f in measured if f.code in cause.confirming]
        verdicts = [_solid(f, covered) for f in confirming]
        if any(ok for ok, _ in verdicts):
            solid = sorted({f.code for f, (ok, _) in zip(confirming, verdicts, strict=True) if ok})
            criteria = [
                f.effect.criterion() for f in confirming if f.effect is not None and f.code in solid
            ]
            how = f"; criterion: {criteria[0]}" if criteria else ""
            return judged(Status.CONFIRMED, f"measured ({', '.join(solid)}){static}{how}")
        why = next((w for ok, w in verdicts if not ok and w), "")
        noisy = any(w.startswith("noisy host") for _, w in verdicts)
        return judged(
            Status.SUSPECTED,
            f"measured {what} from one source only, and {why}; a second independent check "
            "(the audit, or --pid sampling) would confirm it",
            noisy=noisy,
        )

    # Which measured checks that cover this cause judged its specific codes.
    specific = cause.confirming or cause.corroborating
    deciders = [c for c in specific if check_for_code(c).measured]
    judged_by = sorted(
        {
            check_for_code(c)
            for c in deciders
            if check_for_code(c) in covered and covered[check_for_code(c)].judges(c)
        },
        key=list(CheckKind).index,
    )
    weak = {
        c: covered[check_for_code(c)].underpowered[c]
        for c in deciders
        if check_for_code(c) in covered and c in covered[check_for_code(c)].underpowered
    }
    untested = [c for c in deciders if c not in weak and not _judged(c, covered)]

    if found_static:
        static = ", ".join(found_static)
        if judged_by:
            looked = ", ".join(c for c in deciders if _judged(c, covered))
            return judged(
                Status.SUSPECTED,
                f"static {static}; the measured checks judged {looked} and did not see its "
                "effect at this load (it may show at a higher rate or concurrency)",
            )
        if weak:
            return judged(Status.SUSPECTED, f"static {static}; not measured: {_weak_text(weak)}")
        return judged(
            Status.SUSPECTED,
            f"static {static}; not measured ({_needs(untested, covered, failed)})",
        )

    if found_corroborating:
        # A shared symptom alone (a slow tail has many parents): the cause-specific evidence
        # decides, and the audit's silence is no evidence against it.
        shared = ", ".join(found_corroborating)
        deciding = (*cause.static, *cause.confirming)
        seen = [c for c in deciding if _judged(c, covered)]
        if seen:
            return judged(
                Status.INCONCLUSIVE,
                f"{shared} measured is consistent with it, but {', '.join(seen)} "
                "(looked for) was not found; another cause may explain it",
            )
        return judged(
            Status.NOT_TESTED,
            f"{shared} measured is consistent with it; "
            f"{_needs(list(deciding), covered, failed)} to tell",
        )

    if judged_by:
        checked = [c for c in deciders if _judged(c, covered)]
        quiet = all(covered[k].noisy is None for k in judged_by)
        caveat = "" if quiet else " (on a busy host)"
        return judged(
            Status.REFUTED,
            f"{', '.join(k.value for k in judged_by)} judged {', '.join(checked)} and found "
            f"nothing{caveat}",
        )
    if weak:
        return judged(Status.INCONCLUSIVE, _weak_text(weak))
    needs = _needs(untested or list(cause.codes), covered, failed)
    if cause.static and CheckKind.AUDIT in covered:
        needs = f"the audit found no {', '.join(cause.static)} (its silence is no proof); {needs}"
    return judged(Status.NOT_TESTED, needs)


def _judged(code: str, covered: Mapping[CheckKind, Coverage]) -> bool:
    check = covered.get(check_for_code(code))
    return check is not None and check.judges(code)


def _weak_text(weak: Mapping[str, str]) -> str:
    return "; ".join(f"{code} could not judge: {why}" for code, why in sorted(weak.items()))


def _needs(
    codes: Sequence[str],
    covered: Mapping[CheckKind, Coverage],
    failed: Mapping[CheckKind, str],
) -> str:
    """What would test these codes: the input to give, or the phase that did not run."""
    parts: list[str] = []
    for kind in CheckKind:
        mine = [c for c in codes if check_for_code(c) is kind]
        if not mine:
            continue
        if kind in covered:
            parts.append(f"{kind.value} ran but did not judge {', '.join(mine)}")
        elif kind in failed:
            parts.append(f"the {kind.value} check failed ({failed[kind]})")
        else:
            parts.append(f"needs {_input_for(kind)}")
    return "; ".join(dict.fromkeys(parts)) or "no check covers it"


def _input_for(kind: CheckKind) -> str:
    return {
        CheckKind.AUDIT: "--repo PATH",
        CheckKind.PROBE: "--url URL",
        CheckKind.DRIFT: "--reference REF --current CUR",
        CheckKind.MODEL: "--model-path PATH",
        CheckKind.PROFILE: "--url URL, --pid PID and --input BODY",
        CheckKind.REGISTRY: "--registry-model NAME@ALIAS (with --url to compare what serves)",
    }[kind]


def worst(findings: Iterable[Finding]) -> Severity | None:
    return max((f.severity for f in findings), default=None)
