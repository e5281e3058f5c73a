"""Plan fixes from an audit, verify them on a scratch copy, and write them.

Planning never touches the repo: every fix edits an in-memory `Workspace`. Verification
copies the repo's small files to a temporary directory, writes the fixed texts there and
audits again: a fix counts only when its finding is gone and every edited Python file still
compiles. A fix that fails verification is dropped (and the plan rebuilt without it), with
the reason given as a refusal.
"""

from __future__ import annotations

import difflib
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infermedic.atomic import write_atomically
from infermedic.audit import audit
from infermedic.errors import InfermedicError, InputError
from infermedic.fix import regression
from infermedic.fix.base import (
    Change,
    FixContext,
    Fixer,
    Refusal,
    Refused,
    Workspace,
    chain_evidence,
)
from infermedic.fix.registry import FIXERS
from infermedic.model import Finding
from infermedic.settings import Settings

_SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", ".mypy_cache", ".tox"}
_MAX_COPY_BYTES = 2_000_000  # data and model files are not needed to re-audit


@dataclass(frozen=True, kw_only=True, slots=True)
class FixPlan:
    """What `fix` would do to a repo: the verified changes, per file texts, and refusals."""

    root: Path
    changes: tuple[Change, ...]
    refusals: tuple[Refusal, ...]
    no_fixer: tuple[Finding, ...]  # findings whose rule has no mechanical fix
    texts: dict[str, tuple[str, str]] = field(default_factory=dict)  # path -> (before, after)
    created: frozenset[str] = frozenset()  # paths in `texts` that are new files
    notes: tuple[str, ...] = ()  # things not done, with the reason (an existing test file)

    def diff(self) -> str:
        """A unified diff of every changed file, paths relative to the repo root."""
        parts: list[str] = []
        for relpath, (before, after) in sorted(self.texts.items()):
            parts.extend(
                difflib.unified_diff(
                    before.splitlines(keepends=True),
                    after.splitlines(keepends=True),
                    fromfile="/dev/null" if relpath in self.created else f"a/{relpath}",
                    tofile=f"b/{relpath}",
                )
            )
        return "".join(p if p.endswith("\n") else p + "\n" for p in parts)


def fixers_by_code() -> dict[str, Fixer]:
    return {fixer.code: fixer for fixer in FIXERS}


def plan(
    root: Path,
    settings: Settings,
    select: tuple[str, ...] = (),
    *,
    tests: bool = False,
    tracking_uri: str | None = None,
    inputs: tuple[Any, ...] = (),
) -> FixPlan:
    """Audit `root` and plan a verified fix for every finding that has one; with `tests`,
    also a regression test per fix under `tests/regression/`. `tracking_uri` names the
    model registry SVC007 asks (else the settings' or MLFLOW_TRACKING_URI); `inputs` are
    example request bodies (SVC006 builds its schema from them and from the repo's tests)."""
    if not root.is_dir():
        raise InputError(f"{root} is not a directory: give the repository to fix")
    wanted = {code.upper() for code in select}
    report = audit([root], settings)
    findings = [  # a code or a prefix of codes (`SVC00`), as `audit --select` takes them
        f
        for f in sorted(report.findings, key=Finding.sort_key)
        if not wanted or any(f.code.startswith(w) for w in wanted)
    ]
    dropped: dict[str, str] = {}  # fingerprint -> why the fix was dropped
    context = FixContext(settings=settings, tracking_uri=tracking_uri)
    for _attempt in range(3):
        workspace, changes, refusals, no_fixer = _build(root, findings, dropped, context, inputs)
        failed = _verify(root, settings, workspace, changes)
        if not failed:
            refusals += [
                Refusal(finding=f, reason=dropped[f.fingerprint])
                for f in findings
                if f.fingerprint in dropped
            ]
            texts = workspace.changed()
            created, notes = _add_tests(root, changes, texts, refusals) if tests else (set(), [])
            return FixPlan(
                root=root,
                changes=tuple(sorted(changes, key=lambda c: c.finding.sort_key())),
                refusals=tuple(refusals),
                no_fixer=tuple(no_fixer),
                texts=texts,
                created=frozenset(created),
                notes=tuple(notes),
            )
        dropped.update(failed)
    raise InputError("fix: the planned fixes did not verify after 3 attempts")


def _add_tests(
    root: Path,
    changes: list[Change],
    texts: dict[str, tuple[str, str]],
    refusals: list[Refusal],
) -> tuple[set[str], list[str]]:
    """Add each change's regression tests to `texts`; an existing file is never replaced.
    A refused finding of the same code in the same file is allowed by that file's guard."""
    created: set[str] = set()
    notes: list[str] = []
    facts = regression.RepoFacts(root)  # read once for every change's tests
    for change in changes:
        where = change.finding.location.path
        unfixed = frozenset(
            r.finding.fingerprint
            for r in refusals
            if r.finding.code == change.code and r.finding.location.path == where
        )
        tests, why = regression.tests_for(change, root, texts, facts, unfixed)
        notes.extend(why)
        for relpath, text in tests.items():
            if relpath in texts:
                continue  # two findings fixed by one edit share their test
            if (root / relpath).exists():
                notes.append(f"{relpath} exists: not replaced (delete it to regenerate)")
                continue
            texts[relpath] = ("", text)
            created.add(relpath)
    return created, notes


WRAPPING_FIXES = frozenset({"SVC001", "SVC002", "SVC003", "SVC008", "XPL001"})


def _build(
    root: Path,
    findings: list[Finding],
    dropped: dict[str, str],
    context: FixContext,
    inputs: tuple[Any, ...] = (),
) -> tuple[Workspace, list[Change], list[Refusal], list[Finding]]:
    workspace = Workspace(root, context, inputs)
    fixers = fixers_by_code()
    changes: list[Change] = []
    refusals: list[Refusal] = []
    no_fixer: list[Finding] = []
    # from the end of each file backwards: an edit never moves a column still to be fixed;
    # at one position, edits inside a call (a timeout, debug off) before the fixes that wrap
    # the call in another (a thread, inference mode), which would hide it from the former.
    # Findings reached through a call chain, fixed at the route's call of the chain's next
    # step, go last: once the route's direct model calls are wrapped (awaited), the step is
    # found without ambiguity, as a second run would find it (the fixes stay idempotent)
    ordered = sorted(
        findings,
        key=lambda f: (
            _through_chain(f),
            f.location.path or "",
            -(f.location.line or 0),
            -(f.location.column or 0),
            f.code in WRAPPING_FIXES,
        ),
    )
    for finding in ordered:
        fixer = fixers.get(finding.code)
        if fixer is None:
            no_fixer.append(finding)
            continue
        if finding.fingerprint in dropped:
            continue
        snapshot = dict(workspace.texts)
        try:
            changes.append(fixer.apply(finding, workspace))
        except (Refused, InfermedicError) as exc:  # a bad input (a registry URI) refuses too
            workspace.texts.update(snapshot)
            refusals.append(Refusal(finding=finding, reason=str(exc)))
        except Exception as exc:  # noqa: BLE001 - a fixer's bug refuses its fix, never the run
            workspace.texts.update(snapshot)
            reason = f"the fix failed ({type(exc).__name__}: {exc}); please report it"
            refusals.append(Refusal(finding=finding, reason=reason))
    return workspace, changes, refusals, no_fixer


def _through_chain(finding: Finding) -> bool:
    chain = chain_evidence(finding)
    return chain is not None and len(chain[0]) > 2


def _verify(
    root: Path, settings: Settings, workspace: Workspace, changes: list[Change]
) -> dict[str, str]:
    """`fingerprint -> reason` for each change the re-audit does not confirm."""
    edited = workspace.changed()
    if not edited:
        return {}
    failed: dict[str, str] = {}
    for relpath, (_before, after) in edited.items():
        if relpath.endswith(".py"):
            try:
                compile(after, relpath, "exec")
            except SyntaxError as exc:
                for change in changes:
                    if change.path == relpath:
                        failed[change.finding.fingerprint] = (
                            f"the fixed file does not compile: {exc}"
                        )
    if failed:
        return failed
    with tempfile.TemporaryDirectory(prefix="infermedic-fix-") as scratch:
        copy = Path(scratch) / root.name
        _copy_small(root, copy)
        for relpath, (_before, after) in edited.items():
            (copy / relpath).write_text(after, encoding="utf-8")
        again = audit([copy], settings)
    remaining = {f.fingerprint for f in again.findings}
    for change in changes:
        if change.finding.fingerprint in remaining:
            failed[change.finding.fingerprint] = (
                "a re-audit still reports the finding after the fix"
            )
    return failed


def _copy_small(source: Path, target: Path) -> None:
    def ignore(directory: str, names: list[str]) -> set[str]:
        skip = {n for n in names if n in _SKIP_DIRS}
        for name in names:
            path = Path(directory) / name
            if path.is_file() and path.stat().st_size > _MAX_COPY_BYTES:
                skip.add(name)
        return skip

    shutil.copytree(source, target, ignore=ignore, symlinks=True)


def git_dirty(root: Path, relpaths: list[str]) -> list[str]:
    """The files among `relpaths` that git reports as changed or untracked; raises
    `InputError` when `root` is not inside a git work tree."""
    try:
        inside = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--is-inside-work-tree"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InputError(f"cannot run git: {exc}") from exc
    if inside.returncode != 0 or inside.stdout.strip() != "true":
        raise InputError(
            f"{root} is not inside a git work tree: --apply only writes where the change "
            "can be reviewed and reverted (use --allow-dirty to write anyway)"
        )
    dirty: list[str] = []
    for relpath in relpaths:
        status = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", relpath],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if status.returncode != 0 or status.stdout.strip():
            dirty.append(relpath)
    return dirty


def log_entry(
    result: FixPlan, *, mode: str, select: tuple[str, ...], written: list[str], at: str
) -> dict[str, Any]:
    """The `ops/audit.jsonl` line of one fix run: the mode, each fix and refusal, what was
    written (after the diagnose lines, the timeline reads symptom → diagnosis → fix)."""
    return {
        "time": at,
        "step": "fix",
        "mode": mode,
        "repo": str(result.root),
        "select": list(select),
        "fixes": [
            {
                "code": c.code,
                "finding": c.finding.location.describe(),
                "file": c.path,
                "summary": c.summary,
                "fingerprint": c.finding.fingerprint,
            }
            for c in result.changes
        ],
        "refused": [
            {"code": r.finding.code, "finding": r.finding.location.describe(), "reason": r.reason}
            for r in result.refusals
        ],
        "written": written,
    }


def write(root: Path, texts: dict[str, str]) -> None:
    """Write each file's new text atomically (created with its parents when new): a crash or
    a full disk never leaves a half-written source file. A symlink is not written through: it
    may point outside the repository, and neither is a directory link: every path is
    checked before the first file is written."""
    inside = root.resolve()
    for relpath in texts:
        path = root / relpath
        if path.is_symlink() or not path.resolve().is_relative_to(inside):
            raise InputError(
                f"cannot write {path}: it is a symbolic link or lies behind one"
                + ("" if path.resolve().is_relative_to(inside) else " out of the repository"),
                hint="apply this fix by hand, or replace the link with the file",
            )
    for relpath, text in texts.items():
        path = root / relpath
        try:
            write_atomically(path, text)
        except OSError as exc:
            raise InputError(f"cannot write {path}: {exc}") from exc
