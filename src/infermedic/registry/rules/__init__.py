"""The registry rules, in catalogue order. Adding a rule = a new module + one line here."""

from __future__ import annotations

from infermedic.registry.rules.metric_suggests_leakage import RegistryMetricSuggestsLeakage
from infermedic.registry.rules.model_alias_moved import ModelAliasMoved
from infermedic.registry.rules.promoted_without_gate import PromotedWithoutGate
from infermedic.registry.rules.registry_library_skew import RegistryLibrarySkew
from infermedic.registry.rules.served_version_behind_alias import ServedVersionBehindAlias
from infermedic.rules import Rule

RULES: tuple[type[Rule], ...] = (
    RegistryMetricSuggestsLeakage,
    PromotedWithoutGate,
    ServedVersionBehindAlias,
    RegistryLibrarySkew,
    ModelAliasMoved,
)
