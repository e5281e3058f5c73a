"""SVC001 on an aiohttp service (routes on a `RouteTableDef`, the model call one call down
in another module): the fix's bounded executor, and its behavioural regression test served
by aiohttp's own test server, which fails before the fix because the call ran on the event
loop and passes after it; the fixed service answers under a real aiohttp server.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.fix.helpers import (
    apply_with_tests,
    findings,
    generated_test,
    run_cli,
    run_elsewhere,
    run_pytest,
)
from tests.fix.services import git_commit_all, write

AIOHTTP_SERVICE = {
    "scorer/__init__.py": "",
    "scorer/model.py": '''"""A seeded model and its scoring helper."""

import numpy as np
from sklearn.linear_model import LogisticRegression

_rng = np.random.default_rng(3)
_x = _rng.normal(size=(200, 2))
CLF = LogisticRegression().fit(_x, (_x[:, 0] > 0).astype(int))


def score(rows):
    return CLF.predict_proba(np.asarray(rows, dtype=float))[:, 1].tolist()
''',
    "scorer/server.py": '''"""aiohttp scoring service."""

from aiohttp import web

from scorer.model import score

routes = web.RouteTableDef()


@routes.get("/health")
async def health(request):
    return web.json_response({"ok": True})


@routes.post("/score")
async def score_rows(request):
    payload = await request.json()
    return web.json_response({"scores": score(payload["rows"])})


app = web.Application()
app.add_routes(routes)
''',
    "tests/test_server.py": """from aiohttp.test_utils import TestClient, TestServer

from scorer.server import app


async def _post() -> int:
    async with TestClient(TestServer(app)) as client:
        answer = await client.post("/score", json={"rows": [[1.0, 0.0]]})
        return answer.status
""",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_aiohttp_route_fixed_and_its_behavioural_test_fails_before(tmp_path: Path) -> None:
    repo = write(tmp_path / "repo", AIOHTTP_SERVICE)
    pristine = write(tmp_path / "pristine", AIOHTTP_SERVICE)
    git_commit_all(repo)
    done = apply_with_tests(repo, "SVC001", tmp_path / "audit.jsonl")
    assert done.returncode == 0 and "refused" not in done.stdout, done.stdout
    assert "static guard only" not in done.stdout, done.stdout
    assert (
        "run_in_executor(_EXECUTOR, functools.partial(score, "
        in (repo / "scorer/server.py").read_text()
    )
    assert not findings(repo, "SVC001")
    relative = generated_test(repo, "SVC001")
    after = run_pytest(repo, relative)
    assert after.returncode == 0 and "2 passed" in after.stdout, after.stdout + after.stderr
    before = run_elsewhere(repo, relative, pristine)
    assert "2 failed" in before.stdout, before.stdout
    assert "AssertionError: score ran on the event loop thread" in before.stdout
    # the fixed service answers under a real aiohttp server on 127.0.0.1
    port = _free_port()
    serve = (
        "import sys\nfrom aiohttp import web\nfrom scorer.server import app\n"
        "web.run_app(app, host='127.0.0.1', port=int(sys.argv[1]), print=None)\n"
    )
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-c", serve, str(port)], cwd=repo, stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            alive = server.poll() is None and time.monotonic() < deadline
            assert alive, (tmp_path / "server.log").read_text()
            time.sleep(0.2)
        answer = httpx.post(
            f"http://127.0.0.1:{port}/score", json={"rows": [[2.0, 0.0]]}, timeout=60
        )
        assert answer.status_code == 200 and answer.json()["scores"][0] > 0.5, answer.text
    finally:
        server.kill()
        server.wait(timeout=30)
        log.close()
    again = run_cli(
        "fix",
        str(repo),
        "--audit-log",
        str(tmp_path / "audit.jsonl"),
        "--select",
        "SVC001",
        "--apply",
        "--allow-dirty",
    )
    assert "nothing to fix" in again.stdout, again.stdout
