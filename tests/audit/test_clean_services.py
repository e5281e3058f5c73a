"""Precision first: well-built example services get no finding from any audit rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from infermedic.audit import audit
from infermedic.settings import Settings

SERVICES = Path(__file__).resolve().parent.parent / "fixtures" / "services"


@pytest.mark.parametrize("service", sorted(p.name for p in SERVICES.iterdir() if p.is_dir()))
def test_clean_service_has_no_findings(service: str) -> None:
    report = audit([SERVICES / service], Settings())
    assert not report.findings, "\n".join(
        f"{f.location.describe()} {f.code} {f.message}" for f in report.findings
    )
    assert not report.notifications, report.notifications


def test_clean_services_have_routes_found() -> None:
    routes = audit([SERVICES / "fastapi_lifespan"], Settings()).measurements["routes"]
    assert {(r["method"], r["path"]) for r in routes} >= {
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("POST", "/predict"),
        ("POST", "/explain"),
    }
