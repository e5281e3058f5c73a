"""The rules of this domain, in catalogue order. Adding a rule = a new module + one line here."""

from __future__ import annotations

from infermedic.audit.deps.rules.exact_pinned_ml_package import ExactPinnedMlPackage
from infermedic.rules import Rule

RULES: tuple[type[Rule], ...] = (ExactPinnedMlPackage,)
