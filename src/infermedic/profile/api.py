"""Model profiling: where a model's time and memory go, and what would make it faster, measured.

`profile_model` loads a model in a worker process and measures it; `sample_process` samples a
running service's stacks with py-spy. Loading a pickle runs code: only the artifact the user
names is ever loaded, and only inside the worker process.
"""

from __future__ import annotations

from infermedic.profile.config import MeasurePlan, ProfileThresholds
from infermedic.profile.engine import ProfileIncomplete, profile_model, raise_if_incomplete
from infermedic.profile.live import sample_process

__all__ = [
    "MeasurePlan",
    "ProfileIncomplete",
    "ProfileThresholds",
    "profile_model",
    "raise_if_incomplete",
    "sample_process",
]
