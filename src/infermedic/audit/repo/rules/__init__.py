"""The rules of this domain, in catalogue order. Adding a rule = a new module + one line here."""

from __future__ import annotations

from infermedic.audit.repo.rules.terraform_state_in_git import TerraformStateInGit
from infermedic.rules import Rule

RULES: tuple[type[Rule], ...] = (TerraformStateInGit,)
