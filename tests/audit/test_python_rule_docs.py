"""Each Python/MON/XPL rule's docstring `## Example` triggers it and `Use instead:` does not."""

from __future__ import annotations

from pathlib import Path

import pytest

from infermedic.audit import audit
from infermedic.audit.python.rules import RULES
from infermedic.model import NotificationLevel
from infermedic.rules import Registry, code_blocks
from infermedic.settings import Settings

FILE_FOR_LANGUAGE = {
    "python": "app.py",
    "yaml": "monitoring/alerts.yaml",
    "json": "reports/metrics.json",
}


def _examples(code: str) -> tuple[tuple[str, str], tuple[str, str]]:
    rule = Registry.default().get(code)
    assert rule is not None
    example = rule.sections()["Example"]
    before, _, after = example.partition("Use instead:")
    (bad,) = code_blocks(before)
    (good,) = code_blocks(after)
    return bad, good


def _audit(tmp_path: Path, code: str, language: str, body: str) -> list[str]:
    target = tmp_path / FILE_FOR_LANGUAGE[language]
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(body, encoding="utf-8")
    report = audit([tmp_path], Settings(select=(code,)))
    assert not [n for n in report.notifications if n.level is NotificationLevel.ERROR]
    return [f.message for f in report.findings]


@pytest.mark.parametrize("code", [rule.code for rule in RULES])
def test_example_triggers_and_fix_does_not(code: str, tmp_path: Path) -> None:
    (bad_language, bad), (good_language, good) = _examples(code)
    assert _audit(tmp_path / "bad", code, bad_language, bad), f"{code}: Example found nothing"
    assert not _audit(tmp_path / "good", code, good_language, good), f"{code}: fix still fires"


def test_catalogue_is_valid_and_complete() -> None:
    registry = Registry.default()
    codes = {rule.code for rule in RULES}
    assert codes == {f"SVC{n:03d}" for n in range(1, 13)} | {"XPL001", "XPL002"} | {
        f"MON{n:03d}" for n in range(1, 5)
    }
    assert all(registry.get(code) is not None for code in codes)
    assert "SVC001" in [r.code for r in registry.resolve("D-03")]
    assert {r.code for r in registry.resolve("D-22")} == {"SVC005"}
