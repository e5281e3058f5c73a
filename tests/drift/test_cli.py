"""The `drift` command end to end: compare, profile, merge, formats and prediction logs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from infermedic.cli.app import cli
from infermedic.drift.numpy_start import avx512_sort_is_slow, read_first_cpu
from infermedic.instrument import PredictionLogger


def _pair(write_parquet: Callable[[str, dict[str, object]], Path]) -> tuple[Path, Path]:
    rng = np.random.default_rng(41)
    n = 4000
    ref = write_parquet(
        "ref.parquet", {"age": rng.normal(40, 10, n), "plan": rng.choice(["a", "b"], n)}
    )
    cur = write_parquet(
        "cur.parquet", {"age": rng.normal(46, 10, n), "plan": rng.choice(["a", "b"], n)}
    )
    return ref, cur


def test_compare_json_and_profile_and_merge(
    tmp_path: Path, write_parquet: Callable[[str, dict[str, object]], Path]
) -> None:
    ref, cur = _pair(write_parquet)
    runner = CliRunner()
    result = runner.invoke(cli, ["drift", str(ref), str(cur), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [f["code"] for f in data["findings"]] == ["DRIFT001"]
    assert data["findings"][0]["location"]["column_name"] == "age"
    profile = tmp_path / "ref.profile"
    result = runner.invoke(cli, ["drift", "profile", str(ref), "--output", str(profile)])
    assert result.exit_code == 0, result.output
    merged = tmp_path / "merged.profile"
    result = runner.invoke(
        cli, ["drift", "profile", "merge", str(profile), str(profile), "-o", str(merged)]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(merged.read_text())["rows"] == 8000
    result = runner.invoke(
        cli, ["drift", str(profile), str(cur), "--format", "json", "--select", "DRIFT005"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["findings"] == []


def test_html_report_is_self_contained(
    tmp_path: Path, write_parquet: Callable[[str, dict[str, object]], Path]
) -> None:
    ref, cur = _pair(write_parquet)
    out = tmp_path / "drift.html"
    result = CliRunner().invoke(cli, ["drift", str(ref), str(cur), "--output", str(out)])
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert "<svg" in html and "age" in html
    assert 'src="http' not in html and 'href="http' not in html


def test_config_thresholds_apply(
    tmp_path: Path, write_parquet: Callable[[str, dict[str, object]], Path]
) -> None:
    ref, cur = _pair(write_parquet)
    config = tmp_path / "pyproject.toml"
    config.write_text("[tool.infermedic.drift]\npsi-threshold = 10\nwasserstein-threshold = 10\n")
    result = CliRunner().invoke(
        cli, ["drift", str(ref), str(cur), "--format", "json", "--config", str(config)]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["findings"] == []
    config.write_text("[tool.infermedic.drift]\nnot-an-option = 1\n")
    result = CliRunner().invoke(cli, ["drift", str(ref), str(cur), "--config", str(config)])
    assert result.exit_code != 0


def test_reads_prediction_logs_from_the_instrument_logger(tmp_path: Path) -> None:
    rng = np.random.default_rng(42)
    for name, shift in (("ref", 0.0), ("cur", 0.8)):
        logger = PredictionLogger(tmp_path / name, batch_rows=500, flush_interval_s=0.05)
        for i in range(1500):
            x = float(rng.normal(shift, 1))
            logger.log({"x": x, "plan": "ab"[i % 2]}, 1.0 if x > 0.5 else 0.0, request_id=f"r{i}")
        assert logger.close()
    result = CliRunner().invoke(
        cli, ["drift", str(tmp_path / "ref"), str(tmp_path / "cur"), "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    found = {(f["code"], f["location"]["column_name"]) for f in data["findings"]}
    assert ("DRIFT001", "x") in found and ("DRIFT002", "prediction") in found
    assert not any(f["location"]["column_name"] in {"time", "request_id"} for f in data["findings"])


def test_drift_loads_numpy_with_one_blas_thread_and_leaves_the_environment_as_it_was(
    write_parquet: Callable[[str, dict[str, object]], Path],
) -> None:
    # A fresh process, so numpy (and OpenBLAS) loads inside the drift command itself.
    ref, cur = _pair(write_parquet)
    script = (
        "import json, os, sys\n"
        "from threadpoolctl import threadpool_info\n"
        "from infermedic.cli.app import cli\n"
        "assert 'numpy' not in sys.modules\n"
        f"cli(['drift', {str(ref)!r}, {str(cur)!r}, '--format', 'json'], standalone_mode=False)\n"
        "from numpy._core._multiarray_umath import __cpu_features__ as features\n"
        "blas = [p['num_threads'] for p in threadpool_info()\n"
        "        if p['internal_api'] == 'openblas' and 'numpy' in p['filepath']]\n"
        "print(json.dumps([blas, os.environ.get('OPENBLAS_NUM_THREADS'),\n"
        "    os.environ.get('NPY_DISABLE_CPU_FEATURES'), features.get('X86_V4')]))\n"
    )
    plain = (
        "import json\n"
        "from numpy._core._multiarray_umath import __cpu_features__ as features\n"
        "print(json.dumps(features.get('X86_V4')))\n"
    )
    # numpy wheels bundle OpenBLAS (Linux, Windows, Intel macOS); a numpy on another BLAS
    # has no OpenBLAS workers to limit, and lists none
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"OPENBLAS_NUM_THREADS", "NPY_DISABLE_CPU_FEATURES"}
    }
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    threads, variable, features, v4 = json.loads(done.stdout.strip().splitlines()[-1])
    assert all(n == 1 for n in threads) and variable is None and features is None
    # numpy's AVX-512 targets (its sort's among them) are off on AMD Zen 4 only
    alone = subprocess.run(
        [sys.executable, "-c", plain], capture_output=True, text=True, env=env, timeout=300
    )
    assert alone.returncode == 0, alone.stderr
    v4_alone = json.loads(alone.stdout.strip().splitlines()[-1])
    if sys.platform == "linux" and avx512_sort_is_slow(read_first_cpu()):
        assert v4_alone is True and v4 is False
    else:
        assert v4 == v4_alone
    env["OPENBLAS_NUM_THREADS"] = "2"  # the user's own choices are kept (OpenBLAS caps it)
    env["NPY_DISABLE_CPU_FEATURES"] = ""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    threads, variable, features, v4 = json.loads(done.stdout.strip().splitlines()[-1])
    assert all(n == min(2, os.cpu_count() or 1) for n in threads) and variable == "2"
    assert features == "" and v4 == v4_alone
