"""`--output` faults: one line and exit 2, never a traceback, never a protected file replaced,
and reports written with the user's umask."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

AUDITED = str(Path(__file__).resolve().parents[2] / "src" / "infermedic" / "audit" / "k8s")


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "infermedic", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
    )


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr


def test_a_parent_that_is_a_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    err = one_line_error(run("audit", AUDITED, "-o", "afile/report.json", cwd=tmp_path))
    assert "cannot write afile/report.json" in err


def test_an_unknown_report_suffix_is_an_error_not_json(tmp_path: Path) -> None:
    err = one_line_error(run("audit", AUDITED, "-o", "report.pdf", cwd=tmp_path))
    assert ".pdf" in err and "--format" in err
    assert not (tmp_path / "report.pdf").exists()
    ok = run("audit", AUDITED, "-o", "report.pdf", "--format", "json", "--exit-zero", cwd=tmp_path)
    assert ok.returncode == 0 and (tmp_path / "report.pdf").read_text().startswith("{")


def test_a_read_only_report_is_not_replaced(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    target.write_text("keep me")
    target.chmod(0o444)
    err = one_line_error(run("audit", AUDITED, "-o", "report.json", cwd=tmp_path))
    assert "read-only" in err and target.read_text() == "keep me"


def test_files_named_by_other_options_get_their_own_hint(tmp_path: Path) -> None:
    """`monitoring DIRECTORY` and the demo's `--workdir` write atomically too; a refusal
    names the option the user chose that path with, not `--output`."""
    from infermedic.demo.runner import run_tour
    from infermedic.errors import InputError

    (tmp_path / "mon").mkdir()
    for name in ("grafana-dashboard.json", "prometheus-alerts.yaml"):
        (tmp_path / "mon" / name).write_text("keep me")
        (tmp_path / "mon" / name).chmod(0o444)
    err = one_line_error(run("monitoring", "mon", "--overwrite", cwd=tmp_path))
    assert "read-only" in err and "DIRECTORY" in err and "--output" not in err
    index = tmp_path / "tour" / "index.html"
    index.parent.mkdir()
    index.write_text("keep me")
    index.chmod(0o444)
    with pytest.raises(InputError) as refused:
        run_tour([], tmp_path / "tour")
    assert refused.value.hint is not None and "--workdir" in refused.value.hint
    assert index.read_text() == "keep me"


def test_reports_follow_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        result = run("audit", AUDITED, "-o", "report.json", "--exit-zero", cwd=tmp_path)
    finally:
        os.umask(old)
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE((tmp_path / "report.json").stat().st_mode) == 0o644


def test_a_vanished_working_directory_is_one_line(tmp_path: Path) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    code = (
        "import os, sys\n"
        f"os.chdir({str(gone)!r}); os.rmdir({str(gone)!r})\n"
        "from infermedic.cli.app import main\n"
        f"main(['audit', {AUDITED!r}, '--exit-zero'])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_full_disk_is_one_line_and_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real ENOSPC from /dev/full (a full disk cannot be made here without root mounts):
    the temp file's writes are redirected there, the rest of the write path is real."""
    from infermedic.cli.output import write_atomically
    from infermedic.errors import InputError

    out = tmp_path / "out"
    out.mkdir()
    real_fdopen = os.fdopen

    def full_disk(fd: int, *args, **kwargs):  # type: ignore[no-untyped-def]
        os.close(fd)
        return real_fdopen(os.open("/dev/full", os.O_WRONLY), *args, **kwargs)

    monkeypatch.setattr(os, "fdopen", full_disk)
    with pytest.raises(InputError, match="No space left"):
        write_atomically(out / "report.json", "x" * 100_000)
    monkeypatch.undo()
    assert list(out.iterdir()) == []
