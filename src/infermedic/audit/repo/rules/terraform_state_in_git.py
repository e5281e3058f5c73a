"""REP001: Terraform state files committed to the repository."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import ClassVar

from infermedic.audit.project import OUTSIDE_TREE, AuditProject, FileKind, ProjectRule
from infermedic.model import Evidence, EvidenceKind, Finding, Location, Severity

_READ_LIMIT = 20_000_000


def is_terraform_state(relpath: str) -> bool:
    """`terraform.tfstate`, `*.tfstate.backup`, `*.tfstate.<timestamp>.backup`."""
    name = PurePosixPath(relpath).name.lower()
    return name.endswith(".tfstate") or (".tfstate." in name and name.endswith(".backup"))


class TerraformStateInGit(ProjectRule):
    """## What it does
    Checks for Terraform state files (`*.tfstate`, `*.tfstate.backup`) tracked in git. Outside
    a git repository it reports state files that are present, and says it cannot tell
    whether they are committed.

    ## Why is this bad?
    Terraform state holds every attribute of every managed resource in plain text,
    including database passwords, access keys and connection strings of the serving stack.
    Anyone who can read the repository, its forks and CI caches can read them, and the
    history keeps them after the file is deleted. A state file in git is also not locked,
    so two applies from two clones corrupt the infrastructure's record.

    ## Example
    ```text
    $ git ls-files
    infra/main.tf
    infra/terraform.tfstate
    ```

    Use instead:
    ```text
    $ git ls-files
    infra/backend.tf
    infra/main.tf
    ```
    with a remote backend (`backend "s3"`, `backend "gcs"`, `backend "azurerm"`) and
    `*.tfstate` and `*.tfstate.*` in `.gitignore`.

    ## Known problems
    Removing the file does not remove it from history: rotate the secrets it held.
    """

    code: ClassVar[str] = "REP001"
    name: ClassVar[str] = "terraform-state-in-git"
    severity: ClassVar[Severity] = Severity.HIGH
    summary: ClassVar[str] = "Terraform state is committed to the repository"
    fix: ClassVar[str] = (
        "Move state to a remote backend, `git rm --cached` the file, add `*.tfstate*` to "
        ".gitignore and rotate the secrets it held"
    )
    risk: ClassVar[str] = "secrets of the serving infrastructure readable by anyone with the repo"
    checklist: ClassVar[tuple[str, ...]] = ("D-10",)
    file_kinds: ClassVar[tuple[FileKind, ...]] = (FileKind.TERRAFORM_STATE,)

    def check(self, project: AuditProject) -> Iterator[Finding]:
        if project.tracked_files is not None:
            for relpath in sorted(p for p in project.tracked_files if is_terraform_state(p)):
                yield self.finding(
                    Location(path=relpath),
                    f"Terraform state `{relpath}` is tracked in git{_summary(project, relpath)}",
                    evidence=[
                        Evidence(
                            kind=EvidenceKind.COMMAND,
                            action="git ls-files",
                            observed=f"{relpath} is tracked",
                        )
                    ],
                    fix=f"Run `git rm --cached {relpath}`, add `*.tfstate*` to .gitignore, move "
                    "state to a remote backend and rotate the secrets it held",
                    fingerprint_key=relpath,
                )
            return
        present = {f.relpath for f in project.files if f.kind == FileKind.TERRAFORM_STATE}
        present |= {f.relpath for f in project.files if is_terraform_state(f.relpath)}
        for relpath in sorted(present):
            yield self.finding(
                Location(path=relpath),
                f"Terraform state `{relpath}` is in the source tree{_summary(project, relpath)}; "
                "this is not a git repository, so whether it is committed cannot be checked",
                evidence=[
                    Evidence(
                        kind=EvidenceKind.SOURCE,
                        action=relpath,
                        observed="present; no git repository to ask whether it is tracked",
                    )
                ],
                severity=Severity.MEDIUM,
                fingerprint_key=relpath,
            )


def _summary(project: AuditProject, relpath: str) -> str:
    """How many resources the state records (never their values)."""
    path = project.root / relpath
    if not project.contains(path):
        project.notify(OUTSIDE_TREE, path=relpath, rule=TerraformStateInGit.code)
        return ""
    try:
        if path.stat().st_size > _READ_LIMIT:
            return ""
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return ""
    resources = state.get("resources") if isinstance(state, dict) else None
    if not isinstance(resources, list):
        return ""
    return f" (it records {len(resources)} resource(s), with their attributes in plain text)"
