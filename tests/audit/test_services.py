"""Two services audited together: each is judged on its own routes, so neither hides the
other's gap, and each gap is reported exactly once (issue 15)."""

from __future__ import annotations

import shutil
from pathlib import Path

from infermedic.audit import audit
from infermedic.audit.discover import discover
from infermedic.audit.python.runner import run_python
from infermedic.audit.python.services import services
from infermedic.settings import Settings
from tests.expect import compare, parse_expectations

REPO = Path(__file__).resolve().parent.parent / "fixtures" / "multi_service" / "two_gaps"
ROUTE_RULES = ("SVC010", "K8S002", "K8S003")


def test_each_service_gap_is_found_exactly_once(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    shutil.copytree(REPO, root)
    expected = []
    for path in sorted(p for p in root.rglob("*") if p.suffix in {".py", ".yaml"}):
        relpath = path.relative_to(root).as_posix()
        expected += parse_expectations(path.read_text(encoding="utf-8"), relpath)
    assert {e.code for e in expected} == {"SVC010", "K8S002"}
    report = audit([root], Settings(select=ROUTE_RULES))
    problems = compare(expected, report.findings)
    assert not problems, "\n".join(problems)


def test_routes_carry_the_service_that_serves_them() -> None:
    report = audit([REPO], Settings(select=("K8S003",)))
    routes = report.measurements["routes"]
    assert isinstance(routes, list)
    by_path = {(r["method"], r["path"]): r["file"] for r in routes}
    # the router module sits beside the app that includes it; instrument's routes are the
    # recommender's
    assert by_path[("POST", "/recommend")] == "recommender/routers.py"
    assert by_path[("GET", "/readyz")] == "recommender/app.py"


def test_a_router_in_another_folder_belongs_to_the_app_that_imports_it(tmp_path: Path) -> None:
    files = {
        "service/main.py": "from fastapi import FastAPI\nfrom api_routes.predict import router\n"
        "app = FastAPI()\napp.include_router(router)\n",
        "api_routes/predict.py": "from fastapi import APIRouter\nrouter = APIRouter()\n\n"
        "@router.post('/predict')\ndef predict(x: list[float]):\n    return {'y': 1}\n",
        "other/app.py": "from flask import Flask\napp = Flask(__name__)\n\n"
        "@app.route('/report')\ndef report():\n    return 'ok'\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    found = discover([tmp_path])
    index = run_python(found.files, [], Settings()).index
    grouped = {s.key: sorted(r.path for r in s.routes) for s in services(index)}
    assert grouped == {"other": ["/report"], "service": ["/predict"]}
