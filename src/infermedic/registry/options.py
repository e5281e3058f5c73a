"""`[tool.infermedic.registry]`: the tracking server, the promotion gate and the thresholds.

```toml
[tool.infermedic.registry]
tracking-uri = "http://mlflow.internal:5000"
alias = "champion"                              # the alias NAME alone means
gate-tags = { validation_status = "approved" }  # or a list: tags that must be present
gate-evaluation-tag = "evaluation_run_id"       # a version tag naming a finished run
metric-threshold = 0.99
max-served-lag-days = 7
recent-days = 14
```
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from infermedic.errors import ConfigError

KEYS = frozenset(
    {
        "tracking-uri",
        "alias",
        "gate-tags",
        "gate-evaluation-tag",
        "metric-threshold",
        "primary-metric",
        "gap-floor",
        "max-served-lag-days",
        "recent-days",
        "timeout-s",
        "retries",
    }
)


@dataclass(frozen=True, kw_only=True)
class RegistryOptions:
    """How the registry checks judge what the registry returned."""

    tracking_uri: str | None = None
    alias: str = "champion"
    # tag -> required value (None: any value); MLflow's own docs gate on `validation_status`
    gate_tags: Mapping[str, str | None] = field(default_factory=lambda: {"validation_status": None})
    gate_evaluation_tag: str | None = None
    metric_threshold: float = 0.99
    primary_metric: str | None = None
    gap_floor: float = 0.95
    max_served_lag_days: float = 7.0
    recent_days: float = 14.0
    timeout_s: float = 10.0
    retries: int = 2

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any], *, source: str = "settings") -> RegistryOptions:
        unknown = sorted(set(table) - KEYS)
        if unknown:
            raise ConfigError(
                f"{source}: unknown key(s) in [tool.infermedic.registry]: {', '.join(unknown)}",
                hint=f"known keys: {', '.join(sorted(KEYS))}",
            )
        values: dict[str, Any] = {}
        for key in ("tracking-uri", "alias", "gate-evaluation-tag", "primary-metric"):
            if key in table:
                if not isinstance(table[key], str) or not table[key]:
                    raise ConfigError(f"{source}: registry `{key}` must be a non-empty string")
                values[key.replace("-", "_")] = table[key]
        for key in (
            "metric-threshold",
            "gap-floor",
            "max-served-lag-days",
            "recent-days",
            "timeout-s",
        ):
            if key in table:
                value = table[key]
                if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    raise ConfigError(f"{source}: registry `{key}` must be a number >= 0")
                values[key.replace("-", "_")] = float(value)
        if "retries" in table:
            if not isinstance(table["retries"], int) or not 0 <= table["retries"] <= 10:
                raise ConfigError(f"{source}: registry `retries` must be an integer 0..10")
            values["retries"] = table["retries"]
        if "gate-tags" in table:
            values["gate_tags"] = _gate_tags(table["gate-tags"], source)
        return cls(**values)


def _gate_tags(value: Any, source: str) -> dict[str, str | None]:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return dict.fromkeys(value)
    if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
        return {str(k): str(v) for k, v in value.items()}
    raise ConfigError(
        f"{source}: registry `gate-tags` must be a list of tag names or a table of tag = value"
    )
