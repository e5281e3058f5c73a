"""Every mechanical fix, one per rule code; `infermedic fix` tries them in this order."""

from __future__ import annotations

from infermedic.fix import svc001
from infermedic.fix.base import Fixer

FIXERS: tuple[Fixer, ...] = (svc001.FIXER,)
