"""The README's examples, run as written: a README that drifts from the product fails here.

Convention (documented in the README's Development section): an HTML comment
`<!-- readme-test[: FLAGS] -->` on the line before a fenced block marks it as tested.

- A `console` block: its `$ ` lines (with `\\` continuations) run in one bash session in a
  temporary directory, `infermedic` being this checkout's CLI, and `/tmp/` in the commands
  standing for that directory. The lines after the last command are its output as shown:
  `...` stands for left-out lines and a trailing ` ...` for the rest of a line. Every shown
  line must appear in the output, compared with runs of whitespace collapsed (a terminal
  wraps lines elsewhere than the README) and numbers and their time units read as "a
  number" (timings differ between machines, the text around them does not).
  `exit=N`: the exit code shown (default 0). `timing`: findings that depend on timings
  (`profile`) may be missing when a notification of the output names the phase that would
  have shown them, so the run says why it has no finding rather than hiding it.
- A `python` block with `file=NAME`: written to NAME; the tests below serve or run it.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
MARK = re.compile(r"^<!-- readme-test(?::\s*(?P<flags>[^>]*?))?\s*-->$")
HEADER = re.compile(r"^(CRITICAL|HIGH|MEDIUM|LOW|INFO)\s+([A-Z]+\d+)\s+\[([a-z0-9-]+)\]")
NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?:\s?(?:ns|µs|us|ms|s)\b)?")
# The profile phase whose notification explains a missing timing-dependent finding.
PHASE_OF_CODE = {
    "PROF001": "batch",
    "PROF002": "stages:",
    "PROF003": "threads:",
    "PROF006": "option",
    "PROF007": "option",
}


@dataclass(frozen=True, kw_only=True)
class Block:
    line: int
    lang: str
    flags: dict[str, str]
    text: str


def readme_blocks() -> list[Block]:
    lines = README.read_text(encoding="utf-8").splitlines()
    blocks = []
    for index, line in enumerate(lines):
        match = MARK.match(line.strip())
        if not match:
            continue
        fence = lines[index + 1]
        assert fence.startswith("```"), f"README.md:{index + 1}: a readme-test mark needs a block"
        end = next(i for i in range(index + 2, len(lines)) if lines[i].startswith("```"))
        flags = {}
        for flag in (match.group("flags") or "").split():
            key, _, value = flag.partition("=")
            flags[key] = value
        blocks.append(
            Block(
                line=index + 2,
                lang=fence[3:].strip(),
                flags=flags,
                text="\n".join(lines[index + 2 : end]),
            )
        )
    return blocks


def split_console(text: str) -> tuple[list[str], list[str]]:
    """The commands of a console block, and the output shown after the last one."""
    commands: list[str] = []
    shown: list[str] = []
    continued = False
    for line in text.splitlines():
        if continued:
            commands[-1] += "\n" + line
            continued = line.rstrip().endswith("\\")
        elif line.startswith("$ "):
            commands.append(line[2:])
            shown = []
            continued = line.rstrip().endswith("\\")
        else:
            shown.append(line)
    return commands, shown


def normal(text: str) -> str:
    return " ".join(NUMBER.sub("#", text).split())


def missing_lines(shown: list[str], output: str, *, timing: bool) -> list[str]:
    """Shown lines absent from `output`; with `timing`, a finding (its header and the lines
    under it) may be absent when a notification names the phase that would show it."""
    flat = normal(output)
    notes = [line for line in output.splitlines() if line.startswith("[")]
    missing: list[str] = []
    excused = False
    for line in shown:
        stripped = line.strip()
        if not stripped or stripped == "...":
            continue
        header = HEADER.match(stripped)
        if header:
            excused = False
        elif excused and line.startswith(" "):
            continue  # a line of a finding that was excused
        expected = normal(stripped.removesuffix(" ...").removesuffix("..."))
        if expected in flat:
            continue
        if header and timing:
            phase = PHASE_OF_CODE.get(header.group(2))
            if phase and any(phase in note for note in notes):
                excused = True
                continue
        missing.append(line)
    return missing


def cli_bin(tmp_path: Path) -> Path:
    """A directory with an `infermedic` that runs this checkout's CLI."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    shim = bin_dir / "infermedic"
    shim.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m infermedic "$@"\n')
    shim.chmod(0o755)
    return bin_dir


def run_console(block: Block, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    commands, _ = split_console(block.text)
    work = tmp_path / "work"
    work.mkdir()
    script = "set -e\n" + "\n".join(c.replace("/tmp/", f"{work}/") for c in commands)
    env = {
        **os.environ,
        "PATH": f"{cli_bin(tmp_path)}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT / "src"),
        "COLUMNS": "100",
        "NO_COLOR": "1",
        # `git commit` in an example needs an identity; a CI machine may have none
        "GIT_AUTHOR_NAME": "readme",
        "GIT_AUTHOR_EMAIL": "readme@example.invalid",
        "GIT_COMMITTER_NAME": "readme",
        "GIT_COMMITTER_EMAIL": "readme@example.invalid",
    }
    env.pop("FORCE_COLOR", None)
    return subprocess.run(
        ["bash", "-c", script],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


CONSOLE = [b for b in readme_blocks() if b.lang == "console"]


def test_the_readme_marks_its_runnable_examples() -> None:
    commands = [c for b in CONSOLE for c in split_console(b.text)[0]]
    assert any(c.startswith("infermedic audit") or " audit " in c for c in commands)
    assert any("profile scoring:predict" in c for c in commands)
    assert any(c.startswith("infermedic fix . --apply") for c in commands)
    assert any(b.flags.get("file") == "service.py" for b in readme_blocks())


def test_matching_is_tolerant_of_numbers_and_wrapping_only() -> None:
    output = "LOW      PROF001 [batching-would-help] m\n  batch 128 serves 9.1x the rows/s\nof b"
    shown = ["LOW      PROF001 [batching-would-help] m", "  batch 256 serves 16.9x the rows/s of b"]
    assert missing_lines(shown, output, timing=False) == []
    assert missing_lines(["  batch 256 serves 2x the rows"], "batch 2 is 2x", timing=False)
    header = "MEDIUM   PROF003 [thread-oversubscription] m"
    excused = [header, "  n_jobs=1 is 2x faster"]
    note = "[note] threads: measured n_jobs=1 2.1x faster, timed in one pass only"
    assert missing_lines(excused, note, timing=True) == []
    assert missing_lines(excused, note, timing=False) == excused
    assert missing_lines(excused, "[note] unrelated", timing=True) == excused


# `timed`: the profile examples must fit `--quick`'s 30 s budget (about 25 s on 2 quiet cores)
# to exit 0, so `make unit` runs them alone, not beside another worker.
@pytest.mark.timed
@pytest.mark.parametrize("block", CONSOLE, ids=[f"README.md:{b.line}" for b in CONSOLE])
def test_readme_console_example_reproduces(block: Block, tmp_path: Path) -> None:
    result = run_console(block, tmp_path)
    output = result.stdout + result.stderr
    expected_exit = int(block.flags.get("exit", "0"))
    assert result.returncode == expected_exit, output[-3000:]
    _, shown = split_console(block.text)
    work = f"{tmp_path / 'work'}/"
    shown = [line.replace("/tmp/", work) for line in shown]
    missing = missing_lines(shown, output, timing="timing" in block.flags)
    assert not missing, "not in the output:\n" + "\n".join(missing) + "\n---\n" + output[-4000:]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.server
def test_readme_instrument_example_serves_becomes_ready_and_logs(tmp_path: Path) -> None:
    """The README's service, written as shown and served by uvicorn: /readyz turns 200, the
    headers show its stages, and the prediction log is a published file drift reads."""
    block = next(b for b in readme_blocks() if b.flags.get("file") == "service.py")
    (tmp_path / "service.py").write_text(block.text + "\n", encoding="utf-8")
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT / 'src'}"}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "service:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        ready = None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                ready = httpx.get(f"{url}/readyz", timeout=2)
                if ready.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        assert ready is not None and ready.status_code == 200, ready and ready.text
        response = httpx.post(
            f"{url}/predict", json={"tenure_months": 3, "monthly_charges": 70.5}, timeout=10
        )
        assert response.status_code == 200, response.text
        timing = response.headers["server-timing"]
        assert "preprocess;dur=" in timing and "predict;dur=" in timing
        assert "x-request-id" in response.headers
        metrics = httpx.get(f"{url}/metrics", timeout=10).text
        assert "inference_stage_duration_seconds" in metrics
    finally:
        server.send_signal(signal.SIGTERM)
        out, _ = server.communicate(timeout=30)
    # uvicorn shuts down gracefully on SIGTERM, then re-raises it (newer versions): -15
    assert server.returncode in (0, -signal.SIGTERM), out
    # Published at shutdown, not left as a hidden file in progress.
    published = list((tmp_path / "logs").glob("*.jsonl"))
    assert len(published) == 1, list((tmp_path / "logs").iterdir())
    assert '"tenure_months": 3' in published[0].read_text(encoding="utf-8").replace('":3', '": 3')
