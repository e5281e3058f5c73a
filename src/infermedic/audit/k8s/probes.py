"""What probe paths mean: liveness- and readiness-style names, and matching app routes."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from infermedic.audit.k8s.workloads import Container
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


# `uvicorn serving.app:app`, `gunicorn "api.main:create_app()"`: the module a server runs.
_APP_SPEC = re.compile(r"^(?P<module>[A-Za-z_][\w.]*):[A-Za-z_][\w]*(\(.*\))?$")


def container_routes(
    container: Container, routes: tuple[Route, ...]
) -> tuple[tuple[Route, ...], bool]:
    """The routes of the service this container runs, when its command names the app
    module (`uvicorn serving.app:app` → every route of the service whose app is under
    `serving/`), and True; else all routes and False. Two services in one repository are
    then each judged on their own routes."""
    for word, _ in (*container.command, *container.args):
        match = _APP_SPEC.match(word.strip("\"'"))
        if match is None:
            continue
        parts = match.group("module").split(".")
        folder = "/".join(parts[:-1])
        mine = [
            r
            for r in routes
            if (r.file.rsplit("/", 1)[0] if "/" in r.file else "") == folder
            or r.file.startswith(f"{folder}/")
            or (not folder and "/" not in r.file)
        ]
        if not mine:
            # an app module the routes do not live under (a src/ layout, a package root
            # elsewhere) leaves the pooled routes in place rather than judging against none
            return routes, False
        services = {r.service for r in mine}
        return tuple(r for r in routes if r.service in services), True
    return routes, False


def services_in(routes: tuple[Route, ...]) -> int:
    """How many services the routes belong to."""
    return len({r.service for r in routes})
