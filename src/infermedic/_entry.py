"""Subpackages named like their entry point (`infermedic.audit`, `.drift`, `.probe`,
`.diagnose`) stay callable as that entry point.

`infermedic.audit` is documented as a function, loaded lazily by the top-level package; but
importing the subpackage (anything under `infermedic.audit`) makes Python bind the
*module* to that name, so `from infermedic import audit; audit(paths)` would call a module.
Marking the subpackage's module callable makes both spellings work.
"""

from __future__ import annotations

import sys
import types
from typing import Any


class EntryPointModule(types.ModuleType):
    """A module that, called, calls its attribute of the same name."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return getattr(self, self.__name__.rsplit(".", 1)[-1])(*args, **kwargs)


def make_callable(module_name: str) -> None:
    """Called at the end of the subpackage's `__init__`: `make_callable(__name__)`."""
    sys.modules[module_name].__class__ = EntryPointModule
