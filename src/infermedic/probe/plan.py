"""What a probe run does: the checks, the load it may send, its limits and its thresholds."""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

from infermedic.errors import ConfigError
from infermedic.settings import Settings

if TYPE_CHECKING:
    from infermedic.probe.repo_hints import RepoHints


class CheckName(enum.StrEnum):
    """The parts of a probe run `--checks` can choose from."""

    CONTRACT = "contract"  # health, readiness, /metrics, known-good prediction, version, auth
    LOAD = "load"  # open-loop load at --rate for --duration, with the server-side view
    SWEEP = "sweep"  # closed-loop concurrency sweep (runs when --sweep is given)
    BLOCKING = "blocking"  # health canary under predict load; concurrency scaling
    ROBUSTNESS = "robustness"  # malformed inputs must get 4xx; same input, same output


DEFAULT_CHECKS = frozenset(
    {CheckName.CONTRACT, CheckName.LOAD, CheckName.BLOCKING, CheckName.ROBUSTNESS}
)

# Caps that `--allow-high-load` lifts: a probe must never become an accidental DoS.
MAX_RATE = 500.0
MAX_DURATION_S = 120.0
MAX_CONCURRENCY = 64
MAX_WORKERS = 4
# A response body larger than this is an error result, never read further (`--max-body`).
DEFAULT_MAX_BODY = 1024 * 1024


@dataclass(frozen=True, kw_only=True)
class Thresholds:
    """Decision thresholds of the LIVE rules; `[tool.infermedic.probe]` overrides each.

    Keys in the config file are the field names in kebab-case (`tail-ratio = 8`).
    """

    # LIVE001: health canary p99 under load vs idle
    blocking_ratio: float = 3.0
    blocking_min_ms: float = 10.0
    # LIVE001: loaded health p99 against the loaded predict p99 (a cheap request slower
    # than the expensive one queued behind it on the loop)
    blocking_predict_ratio: float = 0.5
    # LIVE001: the canary's median under load over its idle median
    blocking_median_ratio: float = 2.0
    # LIVE002: throughput at concurrency N over throughput at 1
    serial_speedup: float = 1.5
    serial_min_service_ms: float = 5.0
    # LIVE003: first requests vs steady state (median of each)
    cold_start_ratio: float = 3.0
    cold_start_min_ms: float = 50.0
    cold_start_requests: int = 3
    # LIVE004: p99 over p50
    tail_ratio: float = 5.0
    tail_min_ms: float = 50.0
    # LIVE008: resident memory that grows steadily with the requests served
    memory_growth_mb: float = 5.0  # total growth below this is noise
    memory_growth_mb_per_10k: float = 100.0  # projected growth per 10,000 requests
    # share of successive samples that must rise (a leak climbs every second; an allocator
    # warming up or a new thread arena jumps once and stays flat)
    memory_steady_share: float = 0.6
    memory_min_correlation: float = 0.9  # of memory with time, in the run's second half
    # LIVE008, body-cache check: each distinct-body round grows at least this much, and this
    # many times the identical-body round after warm-up
    memory_distinct_round_mb: float = 1.0
    memory_distinct_ratio: float = 3.0
    # LIVE011: share of failed requests under load
    error_fraction: float = 0.01
    # LIVE012: share of server time one stage takes
    stage_fraction: float = 0.6
    stage_min_ms: float = 20.0
    # generator self-check (as perf_analyzer: > 1 % of sends more than the tolerance late)
    late_send_tolerance_ms: float = 5.0
    late_send_fraction: float = 0.01
    # minimum samples before a rule judges
    min_samples: int = 20

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Thresholds:
        known = {f.name.replace("_", "-"): f for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in options.items():
            if key in PLAN_OPTION_KEYS:
                continue
            spec = known.get(key)
            if spec is None:
                raise ConfigError(
                    f"[tool.infermedic.probe]: unknown key {key!r}",
                    hint="known keys: " + ", ".join(sorted([*known, *PLAN_OPTION_KEYS])),
                )
            want = int if spec.type in ("int", int) else float
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"[tool.infermedic.probe]: {key} must be a number")
            values[spec.name] = want(value)
        return cls(**values)


# Engine options in `[tool.infermedic.probe]` that are plan defaults, not thresholds.
PLAN_OPTION_KEYS = frozenset({"rate", "duration", "timeout", "max-body"})


def check_routes(*, predict_path: str | None, health_path: str | None) -> None:
    """Load goes only to the host of the URL: a route is a path on it, never a URL (a
    `ConfigError` naming the option otherwise)."""
    for flag, path, like in (
        ("--predict-path", predict_path, "/predict"),
        ("--health-path", health_path, "/healthz"),
    ):
        if path is not None and ("://" in path or path.startswith("//")):
            raise ConfigError(f"{flag} must be a path on the target (like {like}), got {path!r}")


@dataclass(frozen=True, kw_only=True)
class ProbePlan:
    """Everything a probe run may do. Bounded by default; `allow_high_load` lifts the caps.

    `input_body` is the parsed JSON of `--input`; `api_key`/`bearer` are secrets that never
    appear in the report. `repo_hints` holds the routes and request examples read from the
    service's repository (`--repo`): the prediction route after `predict_path`, an example
    body after the OpenAPI schema.
    """

    input_body: Any = None
    input_source: str | None = None
    rate: float = 20.0
    duration_s: float = 10.0
    sweep: tuple[int, ...] = ()
    workers: int = 1
    expect_version: str | None = None
    api_key: str | None = None
    api_key_header: str = "X-API-Key"
    bearer: str | None = None
    predict_path: str | None = None
    repo_hints: RepoHints | None = None
    health_path: str | None = None
    model_name: str | None = None
    checks: frozenset[CheckName] = DEFAULT_CHECKS
    allow_high_load: bool = False
    timeout_s: float = 10.0  # a total deadline per request: connect, send and the whole body
    max_body: int = DEFAULT_MAX_BODY
    max_in_flight: int = 256
    pid: int | None = None
    # robustness: request bodies varied from the known-good one (bounded, one request each)
    max_variants: int = 24
    # body-cache check: identical vs distinct bodies per round, and rounds of each
    cache_requests: int = 150
    cache_rounds: int = 2
    # blocking check: canary rate and the predict concurrency that loads the server
    canary_rate: float = 50.0
    blocking_concurrency: int = 4
    blocking_duration_s: float = 3.0
    # sweep: each step runs windows until stable or this cap
    sweep_window_s: float = 1.0
    sweep_max_step_s: float = 8.0
    window_s: float = 1.0
    thresholds: Thresholds = field(default_factory=Thresholds)
    settings: Settings = field(default_factory=Settings)

    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.api_key, self.bearer) if s)

    def auth_headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        if self.api_key:
            headers[self.api_key_header] = self.api_key
        if self.bearer:
            headers["Authorization"] = f"Bearer {self.bearer}"
        return headers

    def validated(self) -> ProbePlan:
        """The plan checked against its caps; raises `ConfigError` naming the flag to lift."""
        lift = "pass --allow-high-load to lift the cap (only against a service you own)"
        if not (self.rate > 0 and math.isfinite(self.rate)):
            raise ConfigError(f"--rate must be a positive number, got {self.rate}")
        if not (self.duration_s > 0 and math.isfinite(self.duration_s)):
            raise ConfigError(f"--duration must be positive, got {self.duration_s}")
        if self.workers < 1:
            raise ConfigError(f"--workers must be at least 1, got {self.workers}")
        if not (self.timeout_s > 0 and math.isfinite(self.timeout_s)):
            raise ConfigError(
                f"--timeout must be a positive number of seconds, got {self.timeout_s}"
            )
        if self.max_body < 1:
            raise ConfigError(f"--max-body must be at least 1 byte, got {self.max_body}")
        check_routes(predict_path=self.predict_path, health_path=self.health_path)
        if any(c < 1 for c in self.sweep):
            raise ConfigError("--sweep concurrency steps must be positive integers")
        if not self.allow_high_load:
            if self.rate > MAX_RATE:
                raise ConfigError(f"--rate {self.rate:g} is above the cap {MAX_RATE:g}", hint=lift)
            if self.duration_s > MAX_DURATION_S:
                raise ConfigError(
                    f"--duration {self.duration_s:g}s is above the cap {MAX_DURATION_S:g}s",
                    hint=lift,
                )
            if max(self.sweep, default=1) > MAX_CONCURRENCY:
                raise ConfigError(
                    f"--sweep step {max(self.sweep)} is above the cap {MAX_CONCURRENCY}",
                    hint=lift,
                )
            if self.workers > MAX_WORKERS:
                raise ConfigError(
                    f"--workers {self.workers} is above the cap {MAX_WORKERS}", hint=lift
                )
        checks = set(self.checks)
        if self.sweep:
            checks.add(CheckName.SWEEP)
        return replace(self, checks=frozenset(checks))


def parse_checks(text: str) -> frozenset[CheckName]:
    """`contract,load` → the set; unknown names are a `ConfigError` listing the choices."""
    chosen: set[CheckName] = set()
    for part in (p.strip().lower() for p in text.split(",")):
        if not part:
            continue
        try:
            chosen.add(CheckName(part))
        except ValueError:
            choices = ", ".join(c.value for c in CheckName)
            raise ConfigError(
                f"--checks: unknown check {part!r}", hint=f"choose from {choices}"
            ) from None
    return frozenset(chosen)


def parse_sweep(text: str) -> tuple[int, ...]:
    try:
        steps = tuple(int(p) for p in text.split(",") if p.strip())
    except ValueError:
        raise ConfigError(f"--sweep expects integers like 1,2,4,8, got {text!r}") from None
    return tuple(sorted(set(steps)))
