"""`infermedic probe URL` end to end in a subprocess: JSON out, exit codes, secrets, Ctrl-C."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.probe.servers import Served, serve

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def service() -> Iterator[Served]:
    with serve() as served:
        yield served


def infermedic(*args: str) -> list[str]:
    return [sys.executable, "-m", "infermedic", "probe", *args]


def test_json_report_exit_code_and_no_secret(service: Served, tmp_path: Path) -> None:
    example = tmp_path / "example.json"
    example.write_text(json.dumps({"x": 1.0}))
    secret = "k3y-never-printed-42"
    done = subprocess.run(
        infermedic(
            service.url,
            "--input",
            str(example),
            "--predict-path",
            "/predict/block",
            "--checks",
            "contract,blocking",
            "--api-key",
            secret,
            "--format",
            "json",
            "--fail-on",
            "high",
        ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert secret not in done.stdout + done.stderr
    data = json.loads(done.stdout)
    found = {f["code"] for f in data["findings"]}
    assert "LIVE001" in found
    assert done.returncode == 1  # LIVE001 is high
    # the test service does not check keys: the request without one was answered
    assert "LIVE009" in found


def test_missing_input_is_a_usage_error(service: Served) -> None:
    done = subprocess.run(
        infermedic(service.url, "--predict-path", "/nowhere", "--checks", "contract"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    # /nowhere has no schema in the OpenAPI document, so there is no body to send
    assert done.returncode == 2
    assert "--input" in done.stderr


def test_ctrl_c_stops_at_once_and_still_reports(service: Served, tmp_path: Path) -> None:
    example = tmp_path / "example.json"
    example.write_text(json.dumps({"x": 1.0}))
    output = tmp_path / "report.json"
    process = subprocess.Popen(
        infermedic(
            service.url,
            "--input",
            str(example),
            "--predict-path",
            "/predict/fast",
            "--checks",
            "load",
            "--rate",
            "20",
            "--duration",
            "60",
            "--output",
            str(output),
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Start-up (imports, detection, contract) takes seconds on a busy machine; the load must
    # be running when Ctrl-C comes (tests/hostile waits for the server to see the load).
    time.sleep(8.0)
    started = time.monotonic()
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=30)
    assert time.monotonic() - started < 10
    data = json.loads(output.read_text())
    load = data["measurements"]["load"]
    assert load["interrupted"] is True
    assert 0 < load["requests"] < 20 * 60
    assert any("interrupted" in n["message"] for n in data["notifications"])
