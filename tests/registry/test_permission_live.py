"""A tracking server that refuses: a plain http.server on 127.0.0.1 that answers 401 or 403
to every request (as an authenticating proxy in front of MLflow does, with an HTML or text
body, not MLflow's JSON error) gives one line, exit 2 and a credentials hint, through the
CLI's `profile models:/...` and `probe --registry-model`, with no traceback."""

from __future__ import annotations

import contextlib
import http.server
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import run_cli, thread_server

pytestmark = [pytest.mark.server]


@contextlib.contextmanager
def _refusing(status: int, body: bytes) -> Iterator[tuple[str, list[str]]]:
    """A server answering `status` to everything; yields its URL and the paths it was asked."""
    asked: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def _refuse(self) -> None:
            asked.append(self.path)
            length = int(self.headers.get("content-length") or 0)
            if length:
                self.rfile.read(length)
            self.send_response(status)
            self.send_header("content-type", "text/html")
            if status == 401:
                self.send_header("www-authenticate", 'Basic realm="mlflow"')
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PATCH = do_DELETE = _refuse

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    with thread_server(Handler) as url:
        yield url, asked


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (403, b"<html><body><h1>403 Forbidden</h1>nginx</body></html>"),
        (401, b"Unauthorized"),
    ],
)
def test_a_refusing_tracking_server_is_one_line_exit_2_and_a_hint(
    status: int, body: bytes, tmp_path: Path
) -> None:
    with _refusing(status, body) as (url, asked):
        secret = url.replace("http://", "http://ops:s3cr3tpassw0rd@")
        profiled = run_cli("profile", "models:/churn/1", "--tracking-uri", secret, cwd=tmp_path)
        # the service URL is never reached: the registry is checked before any load
        probed = run_cli(
            "probe", "http://127.0.0.1:9", "--registry-model", "churn@champion",
            "--tracking-uri", url, cwd=tmp_path,
        )  # fmt: skip
    assert asked, "the CLI never asked the tracking server"
    for result in (profiled, probed):
        assert result.returncode == 2, result.stderr
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert "Traceback" not in result.stderr
        error = [line for line in lines if "permission denied" in line]
        assert len(error) == 1, result.stderr
        assert "MLFLOW_TRACKING_TOKEN" in result.stderr  # the hint
        assert len(lines) <= 3, result.stderr  # the error, its hint, nothing else
        assert "s3cr3tpassw0rd" not in result.stderr + result.stdout
