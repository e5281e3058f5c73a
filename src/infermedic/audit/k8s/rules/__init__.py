"""The rules of this domain, in catalogue order. Adding a rule = a new module + one line here."""

from __future__ import annotations

from infermedic.audit.k8s.rules.liveness_equals_readiness import LivenessEqualsReadiness
from infermedic.audit.k8s.rules.memory_based_hpa import MemoryBasedHpa
from infermedic.audit.k8s.rules.missing_probes import MissingProbes
from infermedic.rules import Rule

RULES: tuple[type[Rule], ...] = (MemoryBasedHpa, LivenessEqualsReadiness, MissingProbes)
