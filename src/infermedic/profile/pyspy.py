"""Running py-spy: finding it, checking a process can be traced, recording raw stacks.

Shared by the parent (`profile --pid`, sampling a running service) and the worker (sampling
its own model calls, `sampling.py`); it loads no model and judges nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from infermedic.errors import EngineUnavailable, InputError


def find_py_spy() -> str:
    candidates = [shutil.which("py-spy"), str(Path(sys.executable).parent / "py-spy")]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise EngineUnavailable(
        "py-spy is not installed", hint="pip install py-spy (it samples a process from outside)"
    )


def check_traceable(pid: int) -> None:
    """A clear error for a PID that does not exist or that this user may not trace."""
    if pid <= 0:
        raise InputError(f"PID {pid} is not a process id")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        raise InputError(f"no process with PID {pid}") from None
    except PermissionError:
        raise InputError(
            f"PID {pid} belongs to another user and cannot be traced",
            hint="run infermedic as that user, or with sudo",
        ) from None
    _check_python(pid)
    scope_file = Path("/proc/sys/kernel/yama/ptrace_scope")
    if scope_file.is_file() and os.geteuid() != 0:
        scope = scope_file.read_text().strip()
        if scope in {"1", "2", "3"}:
            note = {
                "1": "only a parent may trace its children",
                "2": "only root may trace",
                "3": "tracing is disabled",
            }
            raise InputError(
                f"cannot trace PID {pid}: kernel.yama.ptrace_scope={scope} ({note[scope]})",
                hint="run with sudo, or `sysctl kernel.yama.ptrace_scope=0`; in a container "
                "add the SYS_PTRACE capability",
            )


def _check_python(pid: int) -> None:
    """A clear error for a process that runs no Python interpreter (a shell, a process
    manager, a native server): py-spy would fail on it with an internal error line."""
    proc = Path(f"/proc/{pid}")
    try:
        exe = os.path.basename(os.readlink(proc / "exe"))
        maps = (proc / "maps").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return  # not Linux, or not readable: py-spy will say what it can
    if "python" in exe.lower() or "libpython" in maps:
        return
    raise InputError(
        f"PID {pid} ({exe}) is not a Python process",
        hint="give the PID of the service's Python process, e.g. `pgrep -f uvicorn`; behind "
        "gunicorn, one worker's PID (`pgrep -P MASTER_PID`), not a shell or wrapper",
    )


def record(
    py_spy: str,
    pid: int,
    duration: float,
    rate: int,
    idle: bool,
    out: Path,
    *,
    nonblocking: bool = True,
) -> subprocess.Popen[str]:
    """`py-spy record` of `pid` in its raw format, per thread, with full file names.

    Non-blocking reads a running service without pausing it; blocking (py-spy pauses the
    process for each sample) reads consistent stacks of short calls."""
    command = [
        py_spy,
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(max(1, round(duration))),
        "--rate",
        str(rate),
        "--format",
        "raw",
        "--threads",
        "--full-filenames",
        "--output",
        str(out),
    ]
    if nonblocking:
        command.append("--nonblocking")
    if idle:
        command.append("--idle")
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
    )


def py_spy_reason(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip() and "py-spy>" not in line]
    return lines[-1][:300] if lines else "no output"


def failure_hint(output: str) -> str | None:
    lowered = output.lower()
    if "permission" in lowered or "operation not permitted" in lowered:
        return "run as the process's user or with sudo; in a container add SYS_PTRACE"
    if "python" in lowered and "not" in lowered:
        return "the process does not look like a Python interpreter"
    return None
