"""The demo tour on a busy host: every scenario diagnosed while CPU burners hold the cores.

Issue 20's test of noise-proof confirmation: with both cores busy (two CPU-bound processes),
the tour must name the same root causes as on a quiet host and confirm nothing on the
healthy service, run after run. This starts `--burners` busy-loop processes (each bounded by
`--max-seconds`), runs `infermedic demo --all` `--repeat` times, and prints one row per
scenario and run: expected cause, cause found, its status, and the host load the diagnosis
measured.

    .venv/bin/python bench/demo_busy.py --repeat 3 --burners 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from infermedic.demo.runner import EXPECTED_CAUSE

BURN = "import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end:\n    pass\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--burners", type=int, default=2)
    parser.add_argument("--max-seconds", type=float, default=3600.0)
    parser.add_argument("scenarios", nargs="*", help="default: every scenario")
    args = parser.parse_args()
    burners = [
        subprocess.Popen([sys.executable, "-c", BURN.format(seconds=args.max_seconds)])
        for _ in range(args.burners)
    ]
    rows: list[tuple[int, str, str | None, str | None, str, str]] = []
    started = time.monotonic()
    try:
        for run in range(1, args.repeat + 1):
            workdir = Path(tempfile.mkdtemp(prefix=f"infermedic-busy-{run}-"))
            command = [sys.executable, "-m", "infermedic", "demo", "--workdir", str(workdir)]
            command += args.scenarios or ["--all"]
            subprocess.run(command, check=False, stdout=subprocess.DEVNULL)
            for name, expected in EXPECTED_CAUSE.items():
                if args.scenarios and name not in args.scenarios:
                    continue
                report = workdir / name / "report.json"
                if not report.is_file():
                    rows.append((run, name, expected, "error", "-", "-"))
                    continue
                diagnosis = json.loads(report.read_text())["measurements"]["diagnosis"]
                root = diagnosis.get("root_cause")
                confirmed = sorted(
                    h["key"] for h in diagnosis["hypotheses"] if h["status"] == "confirmed"
                )
                busy = max((h["others_cores"] for h in diagnosis.get("host", [])), default=0.0)
                rows.append(
                    (
                        run,
                        name,
                        expected,
                        root["key"] if root else None,
                        (root["status"] if root else "none")
                        + (f"; confirmed {confirmed}" if expected is None and confirmed else ""),
                        f"{busy:.2f}",
                    )
                )
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
    print(f"load average at the end: {os.getloadavg()}; {time.monotonic() - started:.0f} s")
    print("| run | scenario | expected | found | status | others' cores (max) |")
    print("| --- | --- | --- | --- | --- | --- |")
    right = 0
    for run, name, expected, found, status, busy in rows:
        ok = found == expected and "confirmed [" not in status
        right += ok
        print(f"| {run} | {name} | {expected} | {found} | {status} | {busy} |")
    print(f"\n{right}/{len(rows)} correct")
    return 0 if right == len(rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
