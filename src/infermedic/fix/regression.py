"""Regression tests `fix --tests` writes into the user's repo, one per fix.

Each is a pytest the user would keep: a static guard that audits the repo with the fixed
rule and fails when the finding comes back in that file. The test names the fix and the
place: `tests/regression/test_<code>_<where>.py`.
"""

from __future__ import annotations

from pathlib import Path

from infermedic.fix.base import Change

TEST_DIR = "tests/regression"

_STATIC = '''"""Regression guard written by `infermedic fix`: {code} stays fixed in {path}.

Fixed: {summary}.
Finding: {message}
"""

from __future__ import annotations

from pathlib import Path

from infermedic.audit import audit
from infermedic.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_{func}() -> None:
    report = audit([ROOT], Settings(select=("{code}",)))
    back = [f for f in report.findings if f.code == "{code}" and f.location.path == {path!r}]
    assert not back, "\\n".join(f"{{f.location.describe()}}: {{f.message}}" for f in back)
'''


def test_path(change: Change) -> str:
    return f"{TEST_DIR}/test_{change.code.lower()}_{change.where}.py"


def static_guard(change: Change) -> str:
    """The text of the static guard for `change`."""
    path = change.finding.location.path or change.path
    return _STATIC.format(
        code=change.code,
        path=path,
        summary=change.summary.replace('"""', "'''"),
        message=change.finding.message.replace('"""', "'''"),
        func=f"{change.code.lower()}_stays_fixed_{change.where}",
    )


def tests_for(change: Change, root: Path, texts: dict[str, tuple[str, str]]) -> dict[str, str]:
    """`relpath -> text` of the regression tests for one change."""
    del root, texts  # the static guard needs neither; behavioural tests read the app
    return {test_path(change): static_guard(change)}
