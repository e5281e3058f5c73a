"""Suite-wide collection policy: how the tests share two cores when run with pytest-xdist.

With `-n 2 --dist loadgroup` (what `make unit` runs), every test that starts a real server or
is marked slow goes to one group, "live", so the live tests run one after another on one
worker, exactly as they would alone, while the other worker runs the in-process tests. The
live tests were written to hold at load 6 on 2 cores; one in-process test beside them adds
about one. Every other test is grouped by its module, so a module's fixtures (trained models,
Spark sessions, generated Parquet) are built once, as in a serial run.

Without xdist this hook does nothing.
"""

from __future__ import annotations

import pytest

LIVE_MARKERS = ("server", "slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        if any(item.get_closest_marker(name) for name in LIVE_MARKERS):
            group = "live"
        else:
            group = item.nodeid.split("::", 1)[0]
        item.add_marker(pytest.mark.xdist_group(group))
