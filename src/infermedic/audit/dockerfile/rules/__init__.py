"""The rules of this domain, in catalogue order. Adding a rule = a new module + one line here."""

from __future__ import annotations

from infermedic.audit.dockerfile.rules.model_copied_into_image import ModelCopiedIntoImage
from infermedic.audit.dockerfile.rules.multiple_server_workers import MultipleServerWorkers
from infermedic.rules import Rule

RULES: tuple[type[Rule], ...] = (ModelCopiedIntoImage, MultipleServerWorkers)
