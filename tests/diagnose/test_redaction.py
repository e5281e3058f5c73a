"""diagnose never writes a URL's credentials or secret query parameters: not in the inputs
line, the "checks run" commands, any report format, nor `ops/audit.jsonl`."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from infermedic.diagnose import DiagnoseOptions, Inputs, audit_log_entry, diagnose
from infermedic.diagnose.timeline import append_entry
from infermedic.report import OutputFormat, render

PASSWORD = "hunter2@tail-secret"  # an unencoded `@`: the tail leaked before
QUERY_KEY = "AKIA-query-0099"


def _closed_port() -> int:
    """A port nothing listens on, so the probe fails at once (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def diagnosis():  # type: ignore[no-untyped-def]
    url = f"http://admin:{PASSWORD}@127.0.0.1:{_closed_port()}/?api_key={QUERY_KEY}"
    return diagnose(
        "p99 latency is high",
        Inputs(url=url),
        options=DiagnoseOptions(rate=5, duration_s=1, api_key="opt-api-key-777"),
    )


def _assert_clean(text: str) -> None:
    for secret in (PASSWORD, "hunter2", "tail-secret", QUERY_KEY, "opt-api-key-777"):
        assert secret not in text, secret


def test_inputs_and_commands_are_redacted(diagnosis) -> None:  # type: ignore[no-untyped-def]
    assert diagnosis.inputs["url"].startswith("http://***@127.0.0.1:")
    assert "api_key=***" in diagnosis.inputs["url"]
    commands = [c.command for c in diagnosis.checks]
    # shell-quoted, so the command pastes as it is
    assert any(c.startswith("infermedic probe 'http://***@127.0.0.1:") for c in commands)
    for command in commands:
        _assert_clean(command)


@pytest.mark.parametrize("fmt", list(OutputFormat))
def test_every_format_is_clean(diagnosis, fmt: OutputFormat) -> None:  # type: ignore[no-untyped-def]
    _assert_clean(render(diagnosis.to_report(), fmt))


def test_the_audit_log_is_clean(diagnosis, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    log = tmp_path / "ops" / "audit.jsonl"
    append_entry(log, audit_log_entry(diagnosis))
    _assert_clean(log.read_text())


def test_the_audit_log_redacts_what_its_caller_forgot(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    append_entry(
        log,
        {
            "inputs": {"url": f"http://u:{PASSWORD}@h:1/p?api_key={QUERY_KEY}&x=1"},
            "checks": [{"command": f"infermedic probe URL --api-key {QUERY_KEY}"}],
            "plan": [f"probe: failed: Authorization: Bearer {QUERY_KEY}"],
        },
    )
    text = log.read_text()
    _assert_clean(text)
    assert "http://***@h:1/p?api_key=***&x=1" in text
