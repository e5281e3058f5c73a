"""Live progress of long steps: the meter's arithmetic on a fake clock, the metered sender on
both send paths, and `infermedic probe` on a real pseudo-terminal, where the request count
and rate must update while the load runs, not only at the end."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from infermedic.cli.live_display import format_status, live_view
from infermedic.live import LoadMeter, current_meter, metering
from infermedic.probe.loadgen import SendResult, fire_of, metered
from tests.probe.servers import Served, serve


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_meter_counts_rate_errors_and_time_left_of_the_running_step() -> None:
    clock = FakeClock()
    meter = LoadMeter(clock)
    assert meter.snapshot() is None  # no step: the display shows nothing
    meter.start("probe load", planned_s=10.0, planned_requests=200)
    for i in range(40):
        meter.record(error=i % 10 == 0)
    clock.now += 2.0
    status = meter.snapshot()
    assert status is not None
    assert (status.done, status.errors, status.planned_requests) == (40, 4, 200)
    assert status.rate_rps == pytest.approx(20.0)
    assert status.elapsed_s == pytest.approx(2.0) and status.remaining_s == pytest.approx(8.0)
    assert status.fraction == pytest.approx(0.2)
    # the rate is the current one (last two seconds), not the average since the start
    for _ in range(10):
        clock.now += 1.0
        meter.snapshot()
    for _ in range(100):
        meter.record(error=False)
    clock.now += 1.0
    status = meter.snapshot()
    assert status is not None and status.rate_rps == pytest.approx(50.0)
    # a new step starts from zero; without a planned count progress goes by time
    meter.start("probe sweep", planned_s=16.0)
    clock.now += 4.0
    status = meter.snapshot()
    assert status is not None and status.done == 0 and status.fraction == pytest.approx(0.25)
    meter.finish()
    assert meter.snapshot() is None


def test_status_line_names_requests_rate_errors_and_time() -> None:
    clock = FakeClock()
    meter = LoadMeter(clock)
    meter.start("probe load", planned_s=10.0, planned_requests=200)
    for i in range(62):
        meter.record(error=i == 0)
    clock.now += 2.0
    status = meter.snapshot()
    assert status is not None
    assert format_status(status) == (
        "62/200 requests · 31 req/s · 1 error · 0:02 elapsed · 0:08 left"
    )


def test_metered_sender_counts_on_both_send_paths() -> None:
    meter = LoadMeter()
    meter.start("step")

    async def plain() -> SendResult:
        return SendResult(status=500)

    class Firing:
        async def __call__(self) -> SendResult:
            return SendResult(status=200)

        def fire(self, callback: Callable[[SendResult], None]) -> None:
            callback(SendResult(status=200))

    wrapped = metered(plain, meter)
    assert fire_of(wrapped) is None  # no fast path is invented
    asyncio.run(wrapped())  # type: ignore[arg-type]
    fast = metered(Firing(), meter)
    fire = fire_of(fast)
    assert fire is not None
    seen: list[int] = []
    fire(lambda result: seen.append(result.status))
    status = meter.snapshot()
    assert status is not None and (status.done, status.errors) == (2, 1) and seen == [200]
    assert metered(plain, None) is plain  # no display: nothing wraps, nothing counts


def test_no_view_and_no_counting_off_a_terminal(tmp_path: Path) -> None:
    with (tmp_path / "err.txt").open("w") as stream, live_view("probe", stream=stream) as view:
        assert view is None and current_meter() is None
    with metering(LoadMeter()) as meter:
        assert current_meter() is meter
    assert current_meter() is None


@pytest.fixture(scope="module")
def service() -> Iterator[Served]:
    with serve() as served:
        yield served


LIVE = re.compile(r"probe load.*?(\d+)/(\d+) requests · ([\d.]+) req/s · (\d+) errors?")


@pytest.mark.server
def test_probe_on_a_terminal_shows_requests_and_rate_while_the_load_runs(
    service: Served, tmp_path: Path
) -> None:
    """stderr is a pseudo-terminal, stdout a pipe: the live line updates during the load
    (counts strictly between 0 and the plan, rising), and the JSON on stdout stays clean."""
    example = tmp_path / "example.json"
    example.write_text(json.dumps({"x": 1.0}))
    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": "160", "TERM": "xterm"}
    env.pop("NO_COLOR", None)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "infermedic",
            "probe",
            service.url,
            "--input",
            str(example),
            "--predict-path",
            "/predict/fast",
            "--checks",
            "contract,load",
            "--rate",
            "20",
            "--duration",
            "4",
            "--format",
            "json",
            "--exit-zero",
        ],
        stdout=subprocess.PIPE,
        stderr=follower,
        env=env,
    )
    os.close(follower)
    screen = b""
    seen: list[tuple[int, int, float]] = []  # (done, planned, rate) as each frame arrived
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:  # the terminal closed: the process is done
                    break
                if not chunk:
                    break
                screen += chunk
                text = chunk.decode(errors="replace")
                seen += [(int(a), int(b), float(r)) for a, b, r, _ in LIVE.findall(text)]
            elif process.poll() is not None:
                break
        stdout, _ = process.communicate(timeout=60)
    finally:
        os.close(leader)
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, screen.decode(errors="replace")[-2000:]
    assert seen, screen.decode(errors="replace")[-2000:]
    planned = {p for _, p, _ in seen}
    assert planned == {80}  # 20 req/s for 4 s
    during = sorted({d for d, p, _ in seen if 0 < d < p})
    assert len(during) >= 2, seen  # several frames while requests were still being sent
    assert any(rate > 0 for d, _, rate in seen if 0 < d < 80), seen
    assert "probe load" in screen.decode(errors="replace")
    data = json.loads(stdout)  # stdout holds the report only, no progress frames
    assert data["tool"]["command"] == "probe"


def test_without_a_planned_time_the_time_left_follows_the_current_rate() -> None:
    clock = FakeClock()
    meter = LoadMeter(clock)
    meter.start("probe memory per body", planned_requests=120)
    for _ in range(20):
        meter.record(error=False)
    clock.now += 2.0
    status = meter.snapshot()
    assert status is not None and status.remaining_s == pytest.approx(10.0)  # 100 at 10/s
    meter.start("probe robustness")  # nothing planned: no time left is claimed
    status = meter.snapshot()
    assert status is not None and status.remaining_s is None and status.fraction is None


def test_a_canary_answer_is_counted_but_never_as_an_error() -> None:
    meter = LoadMeter()
    meter.start("probe blocking")

    async def not_found() -> SendResult:
        return SendResult(status=404)

    asyncio.run(metered(not_found, meter, errors=False)())  # type: ignore[arg-type]
    asyncio.run(metered(not_found, meter)())  # type: ignore[arg-type]
    status = meter.snapshot()
    assert status is not None and (status.done, status.errors) == (2, 1)
