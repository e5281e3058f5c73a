"""`infermedic fix`: verified mechanical fixes for audit findings.

`plan(root, settings, select)` audits a repo and returns a `FixPlan`: a unified diff of every
fix that a re-audit confirms, and the findings whose fix was refused, with the reason.
Nothing is written until the caller writes the plan's texts.
"""

from __future__ import annotations

from infermedic.fix.base import Change, Refusal
from infermedic.fix.engine import FixPlan, plan

__all__ = ["Change", "FixPlan", "Refusal", "plan"]
