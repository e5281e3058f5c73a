"""XPL001 (and SVC002) through route-local aliases of module state, on a Flask service
written unlike the demo: `clf = REGISTRY.model; data = bg = REGISTRY.background` and then
`MeanExplainer(clf.predict_proba, data)`. The aliases only read module state, so the cached
call reads that state directly and the explainer is built once; an explainer built from
the request's own data stays refused, with the reason.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fix.helpers import findings, run_cli, run_python
from tests.fix.services import git_commit_all, write

FLASK_EXPLAIN = {
    "xai/__init__.py": "",
    "xai/registry.py": '''"""The model and its background sample (seeded, trained at import)."""

from sklearn.linear_model import LogisticRegression


class Registry:
    pass


REGISTRY = Registry()
REGISTRY.model = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
REGISTRY.background = [[0.5], [1.5], [2.5]]
BUILT = []  # one entry per explainer built, for the tests


class MeanExplainer:
    """Score minus the mean score of the background (a tiny stand-in for shap)."""

    def __init__(self, predict, background):
        BUILT.append(True)
        self.predict = predict
        self.base = sum(p[1] for p in predict(background)) / len(background)

    def explain(self, row):
        return float(self.predict([row])[0][1] - self.base)
''',
    "xai/web.py": '''"""Flask: explanations, with the explainer made inside the views."""

from flask import Flask, jsonify, request

from xai.registry import REGISTRY, MeanExplainer

app = Flask(__name__)


@app.post("/explain")
def explain():
    payload = request.get_json()
    clf = REGISTRY.model
    bg = REGISTRY.background
    data = bg
    explainer = MeanExplainer(clf.predict_proba, data)
    return jsonify(delta=explainer.explain(payload["x"]))


@app.post("/explain-against")
def explain_against():
    payload = request.get_json()
    background = payload["background"]
    explainer = MeanExplainer(REGISTRY.model.predict_proba, background)
    return jsonify(delta=explainer.explain(payload["x"]))
''',
}


@pytest.mark.slow
def test_aliases_of_module_state_are_read_directly_and_request_data_is_refused(
    tmp_path: Path,
) -> None:
    repo = write(tmp_path / "repo", FLASK_EXPLAIN)
    git_commit_all(repo)
    before = run_python(repo, _SERVE)
    assert before.returncode == 0, before.stderr
    assert before.stdout.split()[-1] == "4", before.stdout  # built on every request
    done = run_cli("fix", str(repo), "--select", "XPL001", "--apply")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "XPL001 xai/web.py" in out and "now runs once" in out, out
    assert "refused" in out and "(background)" in out, out
    web = (repo / "xai/web.py").read_text()
    assert "MeanExplainer(REGISTRY.model.predict_proba, REGISTRY.background)" in web
    after = run_python(repo, _SERVE)
    assert after.returncode == 0, after.stderr
    # same answers, one explainer for the two /explain requests (the other view still
    # builds its own from the request, twice)
    assert after.stdout.split()[:-1] == before.stdout.split()[:-1]
    assert after.stdout.split()[-1] == "3", after.stdout
    left = findings(repo, "XPL001")
    kept = 1 + web.splitlines().index(
        "    explainer = MeanExplainer(REGISTRY.model.predict_proba, background)"
    )
    assert [(f.location.path, f.location.line) for f in left] == [("xai/web.py", kept)], left
    again = run_cli("fix", str(repo), "--select", "XPL001", "--apply")
    assert web == (repo / "xai/web.py").read_text(), again.stdout
    # four first requests at once, from threads: one explainer (the first build is held
    # until all four have reached the build-once function, so a cache that is not a lock
    # would build four)
    at_once = run_python(repo, _AT_ONCE)
    assert at_once.returncode == 0, at_once.stderr
    assert at_once.stdout.split() == ["4", "1"], at_once.stdout


_AT_ONCE = """
import threading
from xai import registry, web

lock, all_in, arrived, answers = threading.Lock(), threading.Event(), [], []
once, real = web._cached_MeanExplainer, registry.MeanExplainer


def through_once():
    with lock:
        arrived.append(1)
        if len(arrived) == 4:
            all_in.set()
    return once()


class Held(real):
    def __init__(self, *args):
        all_in.wait(timeout=60)  # only a failing run waits this out
        super().__init__(*args)


web._cached_MeanExplainer, web.MeanExplainer = through_once, Held


def send():
    answers.append(web.app.test_client().post("/explain", json={"x": [1.0]}).status_code)


threads = [threading.Thread(target=send) for _ in range(4)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join(timeout=120)
print(answers.count(200), len(registry.BUILT))
"""

_SERVE = """
from xai.web import app
from xai.registry import BUILT
client = app.test_client()
for x in (1.0, 2.0):
    print(round(client.post("/explain", json={"x": [x]}).get_json()["delta"], 6))
for x in (1.0, 2.0):
    body = {"x": [x], "background": [[0.0], [3.0]]}
    print(round(client.post("/explain-against", json=body).get_json()["delta"], 6))
print(len(BUILT))
"""
