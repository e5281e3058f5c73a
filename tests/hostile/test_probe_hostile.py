"""`infermedic probe` against hostile servers, each a real process on a loopback address.

Every case checks the exit code, that no traceback is printed, that the run ends within a
bound (wide: a busy machine), and what reached which server. The bounds are generous
multiples of `--timeout`; before the fixes a drip or a silent server held probe for minutes,
an endless body grew to gigabytes, and a redirect sent the load (and the API key) to the
other host.
"""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.hostile.harness import ROOT, assert_clean, command, environment, hostile, run

pytestmark = pytest.mark.server

API_KEY = "k3y-hostile-0042"
BEARER = "b3arer-hostile-0077"
PASSWORD = "p@ss/w0rd-hostile"  # an unencoded `@` and `/`: the cases redaction got wrong
PASSWORD_URL = "p%40ss%2Fw0rd-hostile"
ALL_SECRETS = (API_KEY, BEARER, PASSWORD, PASSWORD_URL, "w0rd-hostile")


@pytest.fixture
def example(tmp_path: Path) -> Path:
    path = tmp_path / "example.json"
    path.write_text(json.dumps({"x": [1.0, 2.0]}))
    return path


def predict_args(example: Path) -> list[str]:
    return ["--input", str(example), "--predict-path", "/predict"]


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("silent", "timeout: no complete response within 2 s"),
        ("drip", "timeout: no complete response within 2 s"),
        ("endless", "over the 1048576-byte cap"),
        ("reset", "gave no usable answer"),
    ],
)
def test_a_target_that_never_answers_usefully_is_one_error_line(
    mode: str, expected: str, tmp_path: Path
) -> None:
    with hostile(mode, tmp_path / "server.log") as server:
        result = run("probe", server.url, "--timeout", "2", "--checks", "contract")
        assert server.requests(), "the server saw no request: the test proves nothing"
    assert_clean(result)
    assert result.returncode == 2
    assert expected in result.stderr
    # Detection's GETs run concurrently, each under one 2 s deadline.
    assert result.wall_s < 60
    assert result.peak_rss_mb < 700  # an uncapped endless body reached GBs


@pytest.mark.parametrize("mode", ["silent", "drip", "endless", "reset"])
def test_load_meets_the_fault_and_is_reported(mode: str, tmp_path: Path, example: Path) -> None:
    """The known-good prediction works; the load's requests then hang, drip, never end or are
    reset. Each is a failed request in the report, within the deadline."""
    with hostile(mode, tmp_path / "server.log", "--scope", "post", "--ok-posts", "2") as server:
        result = run(
            "probe",
            server.url,
            *predict_args(example),
            "--timeout",
            "1.5",
            "--checks",
            "contract,load",
            "--rate",
            "5",
            "--duration",
            "2",
            "--format",
            "json",
            "--exit-zero",
        )
    assert_clean(result)
    assert result.returncode == 0
    load = json.loads(result.stdout)["measurements"]["load"]
    assert load["requests"] >= 5
    assert load["statuses"].get("0", 0) >= 5
    assert load["statuses"].get("200", 0) <= 1
    assert result.wall_s < 90
    assert result.peak_rss_mb < 700


@pytest.mark.parametrize("other_host", ["127.0.0.2", "127.0.0.1"])
def test_redirects_are_never_followed_and_credentials_stay_home(
    other_host: str, tmp_path: Path, example: Path
) -> None:
    """Every GET but health and every POST after the first three answer 307 to another
    server: it must receive nothing, the load's 3xx are counted as 3xx, never as 200."""
    with (
        hostile("record", tmp_path / "other.log", host=other_host) as other,
        hostile(
            "redirect", tmp_path / "target.log", "--ok-posts", "3", "--location", other.url + "/x"
        ) as target,
    ):
        result = run(
            "probe",
            target.url,
            *predict_args(example),
            "--api-key",
            API_KEY,
            "--bearer",
            BEARER,
            "--timeout",
            "3",
            "--checks",
            "contract,load",
            "--rate",
            "40",
            "--duration",
            "2",
            "--format",
            "json",
        )
        reached_target = target.requests()
        assert other.requests() == []
    assert_clean(result)
    assert result.returncode in (0, 1)
    load = json.loads(result.stdout)["measurements"]["load"]
    assert load["statuses"].get("307", 0) >= 40
    assert load["statuses"].get("200", 0) <= 3
    assert load["errors"] >= load["statuses"]["307"]
    # Positive control: the credentials did go to the host the user named.
    assert any(r["headers"].get("x-api-key") == API_KEY for r in reached_target)
    for secret in ALL_SECRETS:
        assert secret not in result.output


@pytest.mark.parametrize("fmt", ["terminal", "json", "markdown", "html", "sarif"])
def test_a_server_that_reflects_credentials_leaks_nothing(
    fmt: str, tmp_path: Path, example: Path
) -> None:
    """The server echoes every request header (Basic auth from the URL, the API key) into its
    answer, and sends implausible timing headers; no output format may show a secret."""
    with hostile("reflect", tmp_path / "server.log") as server:
        url = server.url.replace("http://", f"http://admin:{PASSWORD_URL}@")
        result = run(
            "probe",
            url,
            *predict_args(example),
            "--api-key",
            API_KEY,
            "--timeout",
            "3",
            "--checks",
            "contract,load,robustness",
            "--rate",
            "20",
            "--duration",
            "1",
            "--format",
            fmt,
            "--exit-zero",
        )
        seen = server.requests()
    assert_clean(result)
    assert result.returncode == 0
    basic = "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    assert any(r["headers"].get("authorization") == basic for r in seen)  # sent, to the target
    for secret in (*ALL_SECRETS, basic.split()[1]):
        assert secret not in result.output, secret
    if fmt == "json":
        report = json.loads(result.stdout)
        assert report["measurements"]["load"]["server_timing_ignored"]
        assert any("no duration" in n["message"] for n in report["notifications"])
        # Only the plausible value of each response's timing headers was kept.
        assert set(report["measurements"]["load"]["server_timing"]) == {"good"}


def test_ctrl_c_during_a_hanging_request_leaves_a_report(tmp_path: Path) -> None:
    with hostile("silent", tmp_path / "server.log") as server:
        output = tmp_path / "report.json"
        process = subprocess.Popen(
            command("probe", server.url, "--timeout", "120", "--output", str(output)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environment(),
            cwd=ROOT,
        )
        try:
            deadline = time.monotonic() + 60
            while not server.requests() and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(0.5)  # the requests hang now
            interrupted = time.monotonic()
            process.send_signal(signal.SIGINT)
            _, stderr = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert time.monotonic() - interrupted < 30  # not the 120 s deadline
    assert "Traceback" not in stderr
    assert process.returncode in (0, 1)
    report = json.loads(output.read_text())
    assert any("interrupted" in n["message"] for n in report["notifications"])


def test_ctrl_c_under_load_reports_what_was_measured(tmp_path: Path, example: Path) -> None:
    """Ctrl-C once the server has seen load: the report holds the requests sent so far."""
    with hostile("record", tmp_path / "server.log") as server:
        output = tmp_path / "report.json"
        process = subprocess.Popen(
            command(
                "probe",
                server.url,
                *predict_args(example),
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
            env=environment(),
            cwd=ROOT,
        )
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if sum(r["method"] == "POST" for r in server.requests()) >= 10:
                    break
                time.sleep(0.1)
            interrupted = time.monotonic()
            process.send_signal(signal.SIGINT)
            _, stderr = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert time.monotonic() - interrupted < 30
    assert "Traceback" not in stderr
    load = json.loads(output.read_text())["measurements"]["load"]
    assert load["interrupted"] is True
    assert 5 <= load["requests"] < 20 * 60


@pytest.mark.parametrize(
    ("url", "extra", "expected"),
    [
        ("http://[::1", (), "is not a valid URL"),
        ("http://127.0.0.1:99999", (), "is not a valid URL"),
        ("ftp://127.0.0.1/", (), "is not an http(s) URL"),
        ("http://", (), "has no valid host"),
        (f"http://127.0.0.1:9/?api_key={API_KEY}", (), "query or fragment"),
        (f"http://admin:{PASSWORD}@127.0.0.1:9", ("--bearer", BEARER), "HTTP Basic auth"),
        ("http://127.0.0.1:9", ("--predict-path", "http://other.test/p"), "must be a path"),
        ("http://127.0.0.1:9", ("--timeout", "nan"), "--timeout"),
        ("http://127.0.0.1:9", ("--max-body", "0"), "--max-body"),
    ],
)
def test_bad_targets_and_options_are_one_line(
    url: str, extra: tuple[str, ...], expected: str
) -> None:
    result = run("probe", url, *extra, "--checks", "contract", limit_s=60)
    assert_clean(result)
    assert result.returncode == 2
    assert expected in result.stderr
    for secret in ALL_SECRETS:
        assert secret not in result.output


def test_load_from_worker_processes_never_follows_a_redirect(tmp_path: Path, example: Path) -> None:
    """The same with `--workers 2`: each worker process has its own HTTP client."""
    with (
        hostile("record", tmp_path / "other.log", host="127.0.0.2") as other,
        hostile(
            "redirect", tmp_path / "target.log", "--ok-posts", "3", "--location", other.url + "/x"
        ) as target,
    ):
        result = run(
            "probe",
            target.url,
            *predict_args(example),
            "--api-key",
            API_KEY,
            "--workers",
            "2",
            "--timeout",
            "3",
            "--checks",
            "contract,load",
            "--rate",
            "40",
            "--duration",
            "2",
            "--format",
            "json",
        )
        assert other.requests() == []
    assert_clean(result)
    load = json.loads(result.stdout)["measurements"]["load"]
    assert load["workers"] == 2
    assert load["statuses"].get("307", 0) >= 40
