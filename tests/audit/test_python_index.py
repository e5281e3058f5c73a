"""Route detection and the call graph of the Python index."""

from __future__ import annotations

from pathlib import Path

from infermedic.audit import audit
from infermedic.settings import Settings


def routes_of(tmp_path: Path, files: dict[str, str]) -> set[tuple[str, str, str, bool]]:
    for relpath, text in files.items():
        target = tmp_path / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    routes = audit([tmp_path], Settings(select=("SVC001",))).measurements["routes"]
    return {(r["method"], r["path"], r["handler"], r["async"]) for r in routes}


def test_registration_styles(tmp_path: Path) -> None:
    found = routes_of(
        tmp_path,
        {
            "api/routes.py": (
                "from fastapi import APIRouter\nrouter = APIRouter()\n"
                "@router.get('/items')\nasync def items():\n    return []\n"
            ),
            "api/main.py": (
                "from fastapi import FastAPI\nfrom api.routes import router\n"
                "from starlette.routing import Route\nfrom flask import Flask\n"
                "app = FastAPI()\napp.include_router(router)\n"
                "@router.post('/late')\ndef late():\n    return 1\n"
                "async def score(): ...\napp.add_api_route('/score', score, methods=['POST'])\n"
                "async def star(request): ...\nroutes = [Route('/star', star)]\n"
                "web = Flask(__name__)\ndef view(): ...\n"
                "web.add_url_rule('/view', view_func=view)\n"
            ),
            "resources.py": (
                "from flask_restful import Resource\nclass Predict(Resource):\n"
                "    def post(self):\n        return {}\n"
            ),
            "kserve_model.py": (
                "import kserve\nclass M(kserve.Model):\n"
                "    async def predict(self, payload, headers=None):\n        return payload\n"
            ),
        },
    )
    assert found == {
        ("GET", "/items", "api.routes.items", True),
        ("POST", "/late", "api.main.late", False),
        ("POST", "/score", "api.main.score", True),
        ("GET", "/star", "api.main.star", True),
        ("GET", "/view", "api.main.view", False),
        ("POST", "<Predict>", "resources.Predict.post", False),
        ("POST", "/v1/models/{name}:predict", "kserve_model.M.predict", True),
    }


def test_src_layout_imports_resolve_through_module_suffixes(tmp_path: Path) -> None:
    files = {
        "src/churn/__init__.py": "",
        "src/churn/model.py": (
            "import joblib\nMODEL = joblib.load('m')\n"
            "def score(rows):\n    return MODEL.predict(rows)\n"
        ),
        "src/churn/api.py": (
            "from fastapi import FastAPI\nfrom churn.model import score\napp = FastAPI()\n"
            "@app.post('/p')\nasync def p(rows: list):\n    return score(rows)\n"
        ),
    }
    for relpath, text in files.items():
        (tmp_path / relpath).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relpath).write_text(text, encoding="utf-8")
    (finding,) = audit([tmp_path], Settings(select=("SVC001",))).findings
    assert finding.location.path == "src/churn/model.py"
    assert finding.evidence[1].observed == "p → score → MODEL.predict"


def test_relative_imports_and_factories(tmp_path: Path) -> None:
    files = {
        "svc/__init__.py": "",
        "svc/loading.py": "import torch\ndef get_model():\n    return torch.jit.load('m.pt')\n",
        "svc/app.py": (
            "from fastapi import FastAPI\nfrom .loading import get_model\napp = FastAPI()\n"
            "model = get_model()\n"
            "@app.post('/p')\nasync def p(x: list):\n    return model(x)\n"
        ),
    }
    for relpath, text in files.items():
        (tmp_path / relpath).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relpath).write_text(text, encoding="utf-8")
    (finding,) = audit([tmp_path], Settings(select=("SVC001",))).findings
    assert (finding.location.path, finding.location.line) == ("svc/app.py", 7)


def test_recursion_in_the_call_graph_terminates(tmp_path: Path) -> None:
    found = audit([tmp_path], Settings(select=("SVC001",)))
    assert found.findings == ()
    (tmp_path / "app.py").write_text(
        "from fastapi import FastAPI\napp = FastAPI()\n"
        "def a(n):\n    return b(n)\ndef b(n):\n    return a(n) if n else model.predict(n)\n"
        "@app.get('/r')\nasync def r():\n    return a(3)\n",
        encoding="utf-8",
    )
    (finding,) = audit([tmp_path], Settings(select=("SVC001",))).findings
    assert finding.evidence[1].observed == "r → a → b → model.predict"
