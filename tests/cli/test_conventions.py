"""Conventions users already know: one environment-variable pattern for every option,
did-you-mean on commands and scenarios, `drift compare` listed, one meaning for --model."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import click
import numpy as np
import pandas as pd
import pytest

from infermedic.cli.app import cli

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "infermedic", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )


def every_option() -> Iterator[tuple[tuple[str, ...], click.Command, click.Option]]:
    """Each option of each command, with the command path a user types (a group's default
    subcommand, `drift compare`, `demo tour`, `drift profile build`, left out)."""
    ctx = click.Context(cli)

    def walk(
        command: click.Command, path: tuple[str, ...]
    ) -> Iterator[tuple[tuple[str, ...], click.Command, click.Option]]:
        for param in command.params:
            if isinstance(param, click.Option) and param.expose_value:
                yield path, command, param
        if isinstance(command, click.Group):
            default = getattr(command, "default_command", None)
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                assert sub is not None
                yield from walk(sub, path if name == default else (*path, name))

    yield from walk(cli, ())


OPTIONS = list(every_option())


def test_every_option_of_every_command_reads_infermedic_command_option(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert len(OPTIONS) > 100
    for path, command, option in OPTIONS:
        flag = next(o for o in option.opts if o.startswith("--")).lstrip("-")
        name = "_".join(p.upper().replace("-", "_") for p in ("INFERMEDIC", *path, flag))
        names = [option.envvar] if isinstance(option.envvar, str) else list(option.envvar or [])
        assert names and names[0] == name, (path, flag, option.envvar)
        # And click reads it: the value the variable holds is the option's value source.
        ctx = click.Context(command)
        monkeypatch.setenv(name, "1")
        assert option.resolve_envvar_value(ctx) == "1", name
        monkeypatch.delenv(name)


def test_shared_names_are_only_the_report_options_and_the_rule_selection() -> None:
    shared = {
        next(o for o in option.opts if o.startswith("--"))
        for _, _, option in OPTIONS
        if isinstance(option.envvar, list)
    }
    assert shared == {
        "--format",
        "--output",
        "--fail-on",
        "--exit-zero",
        "--config",
        "--select",
        "--ignore",
    }
    # `drift profile build --output` is the profile's path, never a report's INFERMEDIC_OUTPUT
    builds = [o for p, _, o in OPTIONS if p == ("drift", "profile") and "--output" in o.opts]
    assert builds and all(o.envvar == "INFERMEDIC_DRIFT_PROFILE_OUTPUT" for o in builds)
    # `rules --select` shortens the catalogue listing, not an analysis: its own name only
    (listing,) = [o for p, _, o in OPTIONS if p == ("rules",) and "--select" in o.opts]
    assert listing.envvar == "INFERMEDIC_RULES_SELECT"


def test_the_rules_listing_ignores_the_shared_selection() -> None:
    shared = run_cli("rules", "--format", "json", env={"INFERMEDIC_SELECT": "SVC001"})
    own = run_cli("rules", "--format", "json", env={"INFERMEDIC_RULES_SELECT": "SVC001"})
    assert shared.returncode == own.returncode == 0, shared.stderr + own.stderr
    assert shared.stdout.count('"code"') > 20
    assert own.stdout.count('"code"') == 1 and '"SVC001"' in own.stdout


@pytest.fixture
def drifted(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(2)
    ref, cur = tmp_path / "ref.parquet", tmp_path / "cur.parquet"
    pd.DataFrame({"x": rng.normal(0, 1, 600), "c": rng.choice(["a", "b"], 600)}).to_parquet(ref)
    pd.DataFrame({"x": rng.normal(2, 1, 600), "c": rng.choice(["a", "b"], 600)}).to_parquet(cur)
    return ref, cur


def test_infermedic_drift_select_is_honoured(drifted: tuple[Path, Path]) -> None:
    ref, cur = drifted
    everything = run_cli("drift", str(ref), str(cur), "--exit-zero")
    assert len(set(re.findall(r"\bDRIFT0\d\d\b", everything.stdout))) >= 2, everything.stdout
    only = run_cli(
        "drift", str(ref), str(cur), "--exit-zero", env={"INFERMEDIC_DRIFT_SELECT": "DRIFT001"}
    )
    assert only.returncode == 0, only.stderr
    assert set(re.findall(r"\bDRIFT0\d\d\b", only.stdout)) == {"DRIFT001"}
    typo = run_cli("drift", str(ref), str(cur), env={"INFERMEDIC_DRIFT_SELECT": "DRIFT0001"})
    assert typo.returncode == 2 and "did you mean" in typo.stderr


def test_drift_help_lists_compare_and_profile() -> None:
    help_text = run_cli("drift", "--help").stdout
    assert re.search(r"^\s+compare\s", help_text, re.M) and re.search(
        r"^\s+profile\s", help_text, re.M
    )


def test_a_mistyped_command_or_scenario_gets_a_did_you_mean() -> None:
    command = run_cli("audti", ".")
    assert command.returncode == 2 and "did you mean 'audit'" in command.stderr
    scenario = run_cli("demo", "write", "blocking-predcit", "/nonexistent-dir")
    assert scenario.returncode == 2 and "did you mean 'blocking-predict'" in scenario.stderr
    tour = run_cli("demo", "memory-leek")
    assert tour.returncode == 2 and "did you mean 'memory-leak'" in tour.stderr


def test_diagnose_takes_the_artifact_as_model_path_and_warns_on_the_old_spelling(
    tmp_path: Path,
) -> None:
    help_text = run_cli("diagnose", "--help").stdout
    assert "--model-path" in help_text and not re.search(r"--model\s", help_text)
    assert "Model name" in run_cli("probe", "--help").stdout  # probe's --model: a name
    missing = str(tmp_path / "absent.joblib")
    new = run_cli("diagnose", "--model-path", missing, "--audit-log", str(tmp_path / "a.jsonl"))
    old = run_cli("diagnose", "--model", missing, "--audit-log", str(tmp_path / "a.jsonl"))
    assert "deprecated" not in new.stderr
    assert (
        "warning: `diagnose --model` is deprecated" in old.stderr and "--model-path" in old.stderr
    )
    # The same run either way after the warning line.
    assert old.returncode == new.returncode


def test_profile_pid_of_a_process_that_is_not_python_gets_a_hint() -> None:
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        result = run_cli("profile", "--pid", str(sleeper.pid), "--duration", "1")
    finally:
        sleeper.kill()
        sleeper.wait()
    assert result.returncode == 2
    assert f"PID {sleeper.pid} (sleep) is not a Python process" in result.stderr
    assert "hint: give the PID of the service's Python process" in result.stderr


def test_error_hints_speak_cli(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file.txt").write_text("x")
    result = run_cli("demo", "write", "healthy", str(tmp_path / "taken"))
    assert result.returncode == 2
    assert "--overwrite" in result.stderr and "overwrite=True" not in result.stderr


@pytest.mark.server
@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT])
def test_demo_serve_stops_its_service_on_sigterm_and_ctrl_c(
    how: signal.Signals, tmp_path: Path
) -> None:
    cli_process = subprocess.Popen(
        [sys.executable, "-m", "infermedic", "demo", "serve", "healthy", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "TMPDIR": str(tmp_path)},
        start_new_session=True,
        # As from a terminal: a test run started in the background (`make test &`, a CI
        # runner's shell) passes SIGINT on ignored, and Python then installs no Ctrl-C handler.
        preexec_fn=_sigint_as_in_a_terminal,
    )
    try:
        _signal_and_check(cli_process, how)
    finally:
        # whatever failed above, nothing this test started outlives it: the CLI is asked to
        # stop (it then stops its service), and killed with its process group if it does not
        if cli_process.poll() is None:
            cli_process.terminate()
            try:
                cli_process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(cli_process.pid, signal.SIGKILL)
                cli_process.wait(timeout=30)


def _sigint_as_in_a_terminal() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _signal_and_check(cli_process: subprocess.Popen[str], how: signal.Signals) -> None:
    assert cli_process.stdout is not None
    lines: list[str] = []
    # start-up trains a model and starts uvicorn: minutes on a 2-core host that is busy
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        line = cli_process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("Press Ctrl-C"):
            break
    text = "".join(lines)
    found = re.search(r"\(pid (\d+)\)", text)
    repository = re.search(r"repository:\s+(\S+)", text)
    assert found and repository, text
    service_pid = int(found.group(1))
    group = os.getpgid(service_pid)
    assert group != os.getpgid(cli_process.pid)  # its own session: the signal is ours to pass
    cli_process.send_signal(how)
    cli_process.wait(timeout=180)  # stopping uvicorn and removing the repo, on a busy host
    cli_process.stdout.close()
    # The service and everything in its process group are gone, and its temporary repo too.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.killpg(group, signal.SIGKILL)
        pytest.fail(f"the service's process group {group} outlived the CLI")
    assert not Path(repository.group(1)).exists()
