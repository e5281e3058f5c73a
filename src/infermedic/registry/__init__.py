"""The model registry (MLflow) in the diagnosis: model URIs resolved and downloaded by
version, what the registry says should serve against what does, and the registry rules."""

from __future__ import annotations

from infermedic.registry.client import RegistryClient, cache_root, tracking_uri_from
from infermedic.registry.engine import check_registry, judge_registry, resolve_model_uri
from infermedic.registry.options import RegistryOptions
from infermedic.registry.records import (
    RegistrySnapshot,
    ResolvedModel,
    RunRecord,
    ServedVersion,
    VersionRecord,
)
from infermedic.registry.uri import ModelUri, is_model_uri, parse_model_uri, parse_registry_model

__all__ = [
    "ModelUri",
    "RegistryClient",
    "RegistryOptions",
    "RegistrySnapshot",
    "ResolvedModel",
    "RunRecord",
    "ServedVersion",
    "VersionRecord",
    "cache_root",
    "check_registry",
    "is_model_uri",
    "judge_registry",
    "parse_model_uri",
    "parse_registry_model",
    "resolve_model_uri",
    "tracking_uri_from",
]
