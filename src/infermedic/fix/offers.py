"""The fixes `diagnose` offers for its root cause: a dry run of `infermedic fix` on the repo.

An offer is made only for a finding of this run whose fix the fix engine really makes and
verifies (a re-audit on a scratch copy no longer reports it); a refused fix is not offered.
Nothing is written.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

from infermedic.diagnose.model import FixOffer
from infermedic.errors import InfermedicError
from infermedic.model import Finding
from infermedic.settings import Settings


def fix_command(repo: Path | str, codes: Sequence[str]) -> str:
    """`infermedic fix PATH --select CODES`, shell-quoted."""
    return f"infermedic fix {shlex.quote(str(repo))} --select {','.join(codes)}"


def available_fixes(
    repo: Path, findings: Sequence[Finding], settings: Settings
) -> tuple[tuple[FixOffer, ...], str]:
    """The verified fixes for `findings` in `repo`, and why none could be planned ("" when
    the plan ran)."""
    from infermedic.fix.engine import fixers_by_code, plan

    fixers = fixers_by_code()
    codes = sorted({f.code for f in findings if f.code in fixers and f.location.path})
    if not codes:
        return (), ""
    try:
        result = plan(repo, settings.override(select=codes), tuple(codes))
    except InfermedicError as exc:
        return (), f"the fix dry run failed: {exc}"
    wanted = {f.fingerprint for f in findings}
    offers = [
        FixOffer(
            code=change.code,
            finding=change.finding.location.describe(),
            summary=change.summary,
            command=fix_command(repo, [change.code]),
        )
        for change in result.changes
        if change.finding.fingerprint in wanted
    ]
    return tuple(offers), ""
