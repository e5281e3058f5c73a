"""Every mechanical fix, one per rule code; `infermedic fix` tries them in this order."""

from __future__ import annotations

from infermedic.fix import (
    dkr002,
    k8s001,
    k8s002,
    k8s003,
    mon001,
    svc001,
    svc002,
    svc004,
    svc005,
    svc006,
    svc007,
    svc008,
    svc009,
    svc010,
    svc011,
)
from infermedic.fix.base import Fixer

FIXERS: tuple[Fixer, ...] = (
    svc001.FIXER,
    svc001.IO_FIXER,
    svc002.FIXER,
    svc002.EXPLAINER_FIXER,
    svc004.FIXER,
    svc005.FIXER,
    svc006.FIXER,
    svc007.FIXER,
    svc008.FIXER,
    svc009.FIXER,
    svc010.FIXER,
    svc011.FIXER,
    k8s001.FIXER,
    k8s002.FIXER,
    k8s003.FIXER,
    dkr002.FIXER,
    mon001.FIXER,
)
