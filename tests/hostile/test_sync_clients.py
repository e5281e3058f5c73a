"""The synchronous load paths (`profile --pid --url` drivers, demo traffic) against hostile
servers: the probe's limits hold there too (no redirect, total deadline, capped body)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from infermedic.demo.traffic import generate_traffic
from infermedic.probe.http import BodyTooLarge, send_sync
from tests.hostile.harness import hostile

pytestmark = pytest.mark.server


def test_a_dripping_body_is_cut_off_at_the_total_deadline(tmp_path: Path) -> None:
    with hostile("drip", tmp_path / "log") as server, httpx.Client(timeout=5.0) as client:
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            send_sync(client, "POST", server.url + "/predict", content=b"{}", deadline_s=2.0)
        # 1 byte a second never trips the 5 s read timeout; the total deadline does.
        assert time.monotonic() - started < 30


def test_an_endless_body_is_capped(tmp_path: Path) -> None:
    with (
        hostile("endless", tmp_path / "log") as server,
        httpx.Client(timeout=5.0) as client,
        pytest.raises(BodyTooLarge),
    ):
        send_sync(client, "GET", server.url + "/", max_body=256 * 1024, deadline_s=60)


def test_demo_traffic_never_follows_a_redirect(tmp_path: Path) -> None:
    with (
        hostile("record", tmp_path / "other.log", host="127.0.0.2") as other,
        hostile("redirect", tmp_path / "target.log", "--location", other.url + "/x") as target,
    ):
        result = generate_traffic("healthy", target.url, requests=5, timeout_s=5.0)
        assert other.requests() == []
        assert len(target.requests()) == 5
    assert result.status_counts == {307: 5} and result.failed == 5 and result.succeeded == 0
