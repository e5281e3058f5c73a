"""infermedic: diagnose ML inference services, with evidence for every claim.

The library is the product; the CLI is a thin layer over it. Engines are imported lazily so
that `import infermedic.instrument` inside a model service stays light.
"""

from __future__ import annotations

from infermedic._version import __version__
from infermedic.errors import InfermedicError
from infermedic.lazy import lazy_exports
from infermedic.model import (
    Evidence,
    EvidenceKind,
    Finding,
    Location,
    Notification,
    NotificationLevel,
    Report,
    Severity,
)

__all__ = [
    "Evidence",
    "EvidenceKind",
    "Finding",
    "InfermedicError",
    "Location",
    "Notification",
    "NotificationLevel",
    "Report",
    "Severity",
    "__version__",
    "audit",
    "diagnose",
    "drift",
    "probe",
    "profile_model",
]

# public name -> module that defines it; loaded on first use
_LAZY = {
    "audit": "infermedic.audit",
    "probe": "infermedic.probe",
    "drift": "infermedic.drift",
    "profile_model": "infermedic.profile",
    "diagnose": "infermedic.diagnose",
}


__getattr__ = lazy_exports(__name__, _LAZY)
