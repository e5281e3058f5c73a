"""`docs/rules/` is generated from the rule docstrings; this fails when it is stale."""

from __future__ import annotations

from pathlib import Path

from infermedic.docs import expected_pages
from infermedic.rules import Registry

DOCS = Path(__file__).resolve().parents[2] / "docs" / "rules"


def test_rule_docs_are_up_to_date() -> None:
    expected = expected_pages(Registry.default())
    on_disk = {p.name: p.read_text(encoding="utf-8") for p in DOCS.glob("*.md")}
    stale = sorted(n for n in expected if on_disk.get(n) != expected[n])
    extra = sorted(set(on_disk) - set(expected))
    assert not stale and not extra, f"run `make docs`: stale {stale}, extra {extra}"
