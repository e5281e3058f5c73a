"""docs/api.md's examples run as written: each `python` block in a fresh directory."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
API_DOC = ROOT / "docs" / "api.md"


def python_blocks() -> list[tuple[int, str]]:
    text = API_DOC.read_text(encoding="utf-8")
    return [
        (text[: m.start()].count("\n") + 2, m.group(1))
        for m in re.finditer(r"^```python\n(.*?)^```$", text, re.S | re.M)
    ]


BLOCKS = python_blocks()


def test_the_api_doc_has_an_example_per_entry_point() -> None:
    code = "\n".join(block for _, block in BLOCKS)
    for call in ("audit(", "drift(", "profile_model(", "diagnose(", "replay("):
        assert call in code, call


@pytest.mark.parametrize(("line", "code"), BLOCKS, ids=[f"api.md:{n}" for n, _ in BLOCKS])
def test_api_doc_example_runs(line: int, code: str, tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(code, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    result = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, f"docs/api.md:{line}\n{result.stdout}\n{result.stderr}"
    assert result.stdout.strip(), "each example prints what it found"


def test_top_level_entry_points_stay_callable_after_their_subpackage_is_imported(
    tmp_path: Path,
) -> None:
    """Importing `infermedic.audit.engine` binds the module to `infermedic.audit`; the
    documented `from infermedic import audit; audit(paths)` must still audit."""
    import importlib

    import infermedic

    for name in ("audit", "drift", "probe", "diagnose"):
        importlib.import_module(f"infermedic.{name}")
        assert callable(getattr(infermedic, name)), name
    from infermedic import audit

    (tmp_path / "app.py").write_text("x = 1\n", encoding="utf-8")
    assert audit([tmp_path]).tool == "audit"
