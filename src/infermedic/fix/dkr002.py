"""DKR002: one server worker per container; Kubernetes scales pods.

A careful edit of the one line the audit reported: the worker flag (`--workers N`, `-w N`,
`--workers=N`, in shell or JSON exec form) is removed, and `WEB_CONCURRENCY=N` or a gunicorn
config's `workers = N` becomes 1. A setting split over continuation lines is refused.
"""

from __future__ import annotations

import re

from infermedic.fix.base import Change, Refused, Workspace, slug
from infermedic.model import Finding

_EDITS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r""",\s*["'](?:--workers|-w)["']\s*,\s*["']?\d+["']?"""), ""),  # exec form
    (re.compile(r""",\s*["']--workers=\d+["']"""), ""),
    (re.compile(r"""\s+(?:--workers|-w)(?:\s+|=)\d+\b"""), ""),  # shell form
    (re.compile(r"""\b(WEB_CONCURRENCY\s*[=:]\s*["']?)\d+"""), r"\g<1>1"),
    (re.compile(r"""--workers(?:\s+|=)\d+"""), "--workers 1"),  # inside GUNICORN_CMD_ARGS
    (re.compile(r"""^(\s*workers\s*=\s*)\d+"""), r"\g<1>1"),  # gunicorn.conf.py
)


class OneWorker:
    code = "DKR002"
    title = "one server worker per container"

    def apply(self, finding: Finding, workspace: Workspace) -> Change:
        loc = finding.location
        if loc.path is None or loc.line is None:
            raise Refused("the finding has no file position")
        lines = workspace.read(loc.path).splitlines(keepends=True)
        index = workspace.line(loc.path, loc.line) - 1
        if not 0 <= index < len(lines):
            raise Refused(f"{loc.path} has no line {loc.line}")
        before = lines[index]
        after = before
        for pattern, replacement in _EDITS:
            after, count = pattern.subn(replacement, after, count=1)
            if count:
                break
        if after == before:
            raise Refused(f"no worker setting found on {loc.path}:{loc.line} (split over lines?)")
        lines[index] = after
        workspace.write(loc.path, "".join(lines))
        return Change(
            code=self.code,
            path=loc.path,
            summary=f"{loc.path}:{loc.line} now starts one worker: `{after.strip()}`",
            review=f"{loc.path}: raise the replica count or the autoscaler's range to keep "
            "the capacity the extra workers gave",
            where=slug(loc.path),
            finding=finding,
        )


FIXER = OneWorker()
