"""The one lazy-import helper: a package's public names load their module on first use (PEP 562).

The rule catalogue imports every domain's `rules` subpackage on every command; a package
namespace that imported its engine eagerly would make `infermedic rules` pay for DuckDB,
scipy and the HTTP clients. Use it as

    __getattr__ = lazy_exports(__name__, dict.fromkeys(__all__, "infermedic.probe.api"))
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` that imports `exports[name]` and returns its `name`. Other names
    are an `AttributeError`, so submodules (`from infermedic.drift import stats`) load as usual."""
    table = dict(exports)

    def __getattr__(name: str) -> Any:  # noqa: N807 - the module hook's name
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        try:
            return getattr(importlib.import_module(module), name)
        except AttributeError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None

    return __getattr__
