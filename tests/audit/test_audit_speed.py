"""The audit's speed measures keep their results: the collector pause is undone, and the
import screen in front of the app search still finds apps named through any alias."""

from __future__ import annotations

import gc
from pathlib import Path

from infermedic.audit import audit
from infermedic.audit.discover import discover
from infermedic.audit.python.runner import collector_paused, run_python
from infermedic.audit.python.services import services
from infermedic.settings import Settings


def test_collector_is_paused_inside_and_restored_after() -> None:
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # a caller's own pause is left as it was
    finally:
        gc.enable()


def test_audit_leaves_the_collector_on(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("x = 1\n", encoding="utf-8")
    audit([tmp_path], Settings())
    assert gc.isenabled()


def test_apps_made_through_aliases_and_factories_are_found(tmp_path: Path) -> None:
    files = {
        # the constructor imported under another name, called in a factory
        "alias/main.py": "from fastapi import FastAPI as Api\n\ndef create():\n    return Api()\n",
        # the package imported whole, under an alias
        "dotted/main.py": "import flask as fl\nserver = fl.Flask(__name__)\n",
        # the import after the function that calls it
        "late/main.py": "def make():\n    return Starlette()\n\n"
        "from starlette.applications import Starlette\n",
        # a look-alike name with no framework import: not an app
        "plain/main.py": "def FastAPI():\n    return 1\n\napp = FastAPI()\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    index = run_python(discover([tmp_path]).files, [], Settings()).index
    assert sorted(s.key for s in services(index)) == ["alias", "dotted", "late"]
