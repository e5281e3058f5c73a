"""The Grafana dashboard and Prometheus alert rules for a service wrapped with `instrument()`.

Both are data files in `infermedic/instrument/assets/`; their expressions use only the metric
names `InstrumentMetrics` and prometheus_client's default process and GC collectors export,
which a test checks against a real instrumented service's `/metrics`. `infermedic
monitoring DIR` writes them; diagnose's prevention advice names the alerts.
"""

from __future__ import annotations

import re
from importlib import resources

DASHBOARD_FILE = "grafana-dashboard.json"
ALERTS_FILE = "prometheus-alerts.yaml"
DEFAULT_JOB = "inference"
# A Prometheus job name goes inside double quotes in the rules: nothing that could end the
# string or the line.
_JOB = re.compile(r"[A-Za-z0-9_.:/-]{1,128}")


def _asset(name: str) -> str:
    return resources.files("infermedic.instrument.assets").joinpath(name).read_text("utf-8")


def valid_job(job: str) -> bool:
    """Whether `job` can be written into the alert rules as a scrape job name."""
    return _JOB.fullmatch(job) is not None


def alert_rules(job: str = DEFAULT_JOB) -> str:
    """The Prometheus rules file (YAML text), with the heartbeat alerts bound to `job`."""
    if not valid_job(job):
        raise ValueError(f"not a usable job name: {job!r}")
    text = _asset(ALERTS_FILE)
    return text.replace(f'job="{DEFAULT_JOB}"', f'job="{job}"').replace(
        f"job {DEFAULT_JOB}", f"job {job}"
    )


def grafana_dashboard() -> str:
    """The Grafana dashboard (JSON text), with data source, job and instance variables."""
    return _asset(DASHBOARD_FILE)


def alert_names() -> tuple[str, ...]:
    """The names of the shipped alerts, in file order."""
    return tuple(re.findall(r"^\s+- alert: (\w+)$", _asset(ALERTS_FILE), flags=re.MULTILINE))
