"""What probe paths mean: liveness- and readiness-style names, and matching app routes."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from infermedic.audit.project import Route

LIVENESS_NAMES = frozenset({"health", "healthz", "livez", "live", "liveness", "ping", "alive"})
READINESS_NAMES = frozenset({"ready", "readyz", "readiness"})


def last_segment(path: str) -> str:
    return path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1].lower()


def is_liveness_path(path: str) -> bool:
    return last_segment(path) in LIVENESS_NAMES


def is_readiness_path(path: str) -> bool:
    return last_segment(path) in READINESS_NAMES


@lru_cache(maxsize=1024)
def _route_regex(route_path: str) -> re.Pattern[str]:
    out: list[str] = []
    for piece in re.split(r"(\{[^}]*\}|<[^>]*>)", route_path.rstrip("/") or "/"):
        if piece.startswith("{") or piece.startswith("<"):
            # `{p:path}` / `<path:p>` span slashes; other parameters are one segment.
            out.append(".*" if ":path" in piece or "path:" in piece else "[^/]+")
        else:
            out.append(re.escape(piece))
    return re.compile("^" + "".join(out) + "/?$")


def route_defined(path: str, routes: Iterable[Route]) -> bool:
    """Whether an HTTP GET of `path` reaches one of the app's routes."""
    wanted = path.split("?", 1)[0] or "/"
    return any(
        route.method in ("GET", "HEAD", "*") and _route_regex(route.path).match(wanted)
        for route in routes
    )
