"""Settings: pyproject discovery, explicit config files, and clear errors for bad ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from infermedic.errors import ConfigError
from infermedic.model import Severity
from infermedic.settings import Settings, load_settings


def test_nearest_pyproject_with_a_table_is_used(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.infermedic]\nselect = ["SVC"]\nfail-on = "medium"\n'
        '[tool.infermedic.rules.PKG001]\npackages = ["torch"]\n'
        "[tool.infermedic.drift]\nalpha = 0.01\n"
    )
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    settings = load_settings(start=nested)
    assert settings.select == ("SVC",)
    assert settings.fail_on is Severity.MEDIUM
    assert settings.options_for_rule("pkg001") == {} and settings.options_for_rule("PKG001")
    assert settings.options_for_engine("drift") == {"alpha": 0.01}


def test_no_config_gives_defaults(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    assert load_settings(start=tmp_path) == Settings()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[tool.infermedic]\nselct = ['SVC']\n", "unknown key"),
        ("[tool.infermedic]\nfail-on = 'urgent'\n", "unknown severity"),
        ("[tool.infermedic]\nselect = 3\n", "list of strings"),
        ("[tool.infermedic\n", "not valid TOML"),
    ],
)
def test_bad_config_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_settings(path)


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")


def test_cli_values_override_the_file() -> None:
    base = Settings(select=("SVC",), fail_on=Severity.LOW)
    merged = base.override(select=["DKR"], ignore=None, fail_on=None)
    assert merged.select == ("DKR",) and merged.fail_on is Severity.LOW
