"""`infermedic audit`: options, env vars, output and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infermedic.cli.app import main

APP = """\
import joblib
from fastapi import FastAPI

app = FastAPI()
model = joblib.load("m.joblib")


@app.post("/predict")
async def predict(x: list[float]):
    return model.predict([x])
"""


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_text(APP, encoding="utf-8")
    return tmp_path


def test_findings_at_or_above_fail_on_exit_1(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(["audit", str(repo), "--select", "SVC001", "--format", "json"], capsys)
    assert code == 1
    data = json.loads(out)
    assert [f["code"] for f in data["findings"]] == ["SVC001"]


def test_fail_on_exit_zero_and_ignore(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        run(
            ["audit", str(repo), "--select", "SVC001", "--fail-on", "critical", "--format", "json"],
            capsys,
        )[0]
        == 0
    )
    assert (
        run(["audit", str(repo), "--select", "SVC001", "--exit-zero", "--format", "json"], capsys)[
            0
        ]
        == 0
    )
    code, out, _ = run(
        ["audit", str(repo), "--select", "SVC001,SVC010", "--ignore", "SVC001", "--format", "json"],
        capsys,
    )
    assert [f["code"] for f in json.loads(out)["findings"]] == ["SVC010"]
    assert code == 0  # SVC010 is medium, below the default `high`


def test_select_from_environment(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INFERMEDIC_SELECT", "SVC010")
    _, out, _ = run(["audit", str(repo), "--format", "json"], capsys)
    assert [f["code"] for f in json.loads(out)["findings"]] == ["SVC010"]


def test_config_file_select(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = repo / "infermedic.toml"
    config.write_text('select = ["SVC010"]\n', encoding="utf-8")
    _, out, _ = run(["audit", str(repo), "--config", str(config), "--format", "json"], capsys)
    assert [f["code"] for f in json.loads(out)["findings"]] == ["SVC010"]


def test_output_file(repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "out" / "report.json"
    code, _, err = run(["audit", str(repo), "--select", "SVC001", "-o", str(target)], capsys)
    assert code == 1
    assert json.loads(target.read_text(encoding="utf-8"))["findings"][0]["code"] == "SVC001"
    assert "wrote json report" in err


def test_missing_path_and_unknown_rule_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(["audit", str(tmp_path / "nope")], capsys)
    assert code == 2 and "does not exist" in err
    code, _, err = run(["audit", str(tmp_path), "--select", "NOPE999"], capsys)
    assert code == 2 and "matches no rule" in err


def test_badly_typed_rule_option_exits_2_with_the_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "requirements.txt").write_text("torch==2.3.0\n", encoding="utf-8")
    config = tmp_path / "infermedic.toml"
    config.write_text('[rules.PKG001]\npackages = "torch"\n', encoding="utf-8")
    code, out, err = run(["audit", str(tmp_path), "--config", str(config)], capsys)
    assert code == 2 and out == ""
    assert "`packages` must be a list of package names" in err
    assert "internal error" not in err
