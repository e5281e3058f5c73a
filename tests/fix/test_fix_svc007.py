"""SVC007's fix: `models:/NAME/latest` pinned to the version a real registry names now.

The registry is a real MLflow SQLite store with two versions of a seeded sklearn model,
built in a subprocess (MLflow's logging sets process-wide state). In-process planning reads
it through MLflow's client; SQLAlchemy (inside MLflow) emits a deprecation warning on that
path, which the tests that read it ignore by its exact text.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from infermedic.fix.base import Refused, Workspace
from infermedic.fix.engine import plan
from infermedic.fix.svc007 import FIXER, NO_REGISTRY
from infermedic.settings import Settings
from tests.fix.helpers import findings, imports, run_cli, run_pytest
from tests.fix.services import write

MLFLOW_SQLALCHEMY = "ignore:The ``noload`` loader strategy:DeprecationWarning"

_MAKE_REGISTRY = """
import json, sys
import mlflow, numpy as np
from mlflow import MlflowClient
from sklearn.linear_model import LogisticRegression

uri = sys.argv[1]
mlflow.set_tracking_uri(uri)
rng = np.random.default_rng(7)
x = rng.normal(size=(80, 3))
y = (x[:, 0] + 0.3 * x[:, 1] > 0).astype(int)
for c in (0.5, 2.0):
    with mlflow.start_run():
        mlflow.sklearn.log_model(
            LogisticRegression(C=c).fit(x, y), name="model", registered_model_name="churn"
        )
runs = {str(v.version): v.run_id for v in MlflowClient(uri).search_model_versions("name='churn'")}
latest = mlflow.pyfunc.load_model("models:/churn/latest").metadata.run_id
print(json.dumps({"runs": runs, "latest_run": latest}))
"""

# file -> (source, what the fixed file must contain)
SHAPES = {
    "app/constant.py": (
        'import mlflow\n\nmodel = mlflow.pyfunc.load_model("models:/churn/latest")\n',
        'mlflow.pyfunc.load_model("models:/churn/2")',
    ),
    "app/assigned.py": (
        "import mlflow.sklearn\n\nURI = 'models:/churn'\nmodel = mlflow.sklearn.load_model(URI)\n",
        "URI = 'models:/churn/2'",
    ),
    "app/fstring.py": (
        'import mlflow\n\nmodel = mlflow.sklearn.load_model(f"models:/churn/latest")\n',
        'mlflow.sklearn.load_model("models:/churn/2")',
    ),
    "app/default.py": (
        "import os\n\nimport mlflow\n\n"
        'MODEL_URI = os.environ.get("MODEL_URI", "models:/churn/latest")\n'
        "model = mlflow.pyfunc.load_model(MODEL_URI)\n",
        'os.environ.get("MODEL_URI", "models:/churn/2")',
    ),
}


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, object]]:
    """A SQLite tracking URI with versions 1 and 2 of `churn`, and what MLflow itself
    resolves `latest` to (the run of the version it loads)."""
    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    done = subprocess.run(
        [sys.executable, "-c", _MAKE_REGISTRY, uri],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=root,
        env={**_env(), "MLFLOW_DISABLE_TELEMETRY": "true"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return uri, json.loads(done.stdout.strip().splitlines()[-1])


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}


@pytest.fixture(autouse=True)
def _no_ambient_registry(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))  # empty unless a test fills it


def test_without_a_registry_every_mlflow_shape_is_refused_with_the_reason(tmp_path: Path) -> None:
    write(tmp_path, {path: source for path, (source, _) in SHAPES.items()})
    result = plan(tmp_path, Settings(select=("SVC007",)), ("SVC007",))
    assert not result.changes and not result.texts
    assert len(result.refusals) == len(SHAPES)
    assert {r.reason for r in result.refusals} == {NO_REGISTRY}
    assert "--tracking-uri" in NO_REGISTRY


@pytest.mark.slow
@pytest.mark.filterwarnings(MLFLOW_SQLALCHEMY)
def test_pins_the_version_latest_resolves_to(
    tmp_path: Path, registry: tuple[str, dict[str, object]], monkeypatch: pytest.MonkeyPatch
) -> None:
    uri, truth = registry
    runs, latest_run = truth["runs"], truth["latest_run"]
    assert isinstance(runs, dict) and sorted(runs) == ["1", "2"]
    write(tmp_path, {path: source for path, (source, _) in SHAPES.items()})
    result = plan(tmp_path, Settings(select=("SVC007",)), ("SVC007",), tracking_uri=uri)
    assert not result.refusals, result.refusals
    assert len(result.changes) == len(SHAPES)
    # the pinned version is the one MLflow's own `latest` loads
    assert runs["2"] == latest_run
    for path, (_source, expected) in SHAPES.items():
        after = result.texts[path][1]
        assert expected in after, after
        assert "`latest` was version 2" in after and f"registry at {uri}" in after
        compile(after, path, "exec")
        (tmp_path / path).write_text(after)
    assert findings(tmp_path, "SVC007") == []
    again = plan(tmp_path, Settings(select=("SVC007",)), ("SVC007",), tracking_uri=uri)
    assert not again.texts and not again.changes  # idempotent
    # the fixed module imports and loads the pinned model from the registry
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    loaded = imports(tmp_path, "app.default")
    assert loaded.returncode == 0, loaded.stderr[-2000:]


@pytest.mark.filterwarnings(MLFLOW_SQLALCHEMY)
def test_settings_tracking_uri_is_used_and_credentials_never_reach_the_comment(
    tmp_path: Path, registry: tuple[str, dict[str, object]]
) -> None:
    uri, _ = registry
    source, _ = SHAPES["app/constant.py"]
    write(tmp_path, {"app/constant.py": source})
    settings = Settings(select=("SVC007",), engine_options={"registry": {"tracking-uri": uri}})
    result = plan(tmp_path, settings, ("SVC007",))
    assert len(result.changes) == 1, result.refusals
    # an unreachable server with credentials in its URI: refused, and the password hidden
    secret = "http://me:hunter2secret@127.0.0.1:9/"
    refused = plan(tmp_path, settings, ("SVC007",), tracking_uri=secret)
    assert not refused.changes and len(refused.refusals) == 1
    reason = refused.refusals[0].reason
    assert "hunter2secret" not in reason and "cannot resolve `latest`" in reason


def test_computed_names_wandb_and_unpinnable_hub_loads_are_refused(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "computed.py": "import mlflow\n\nNAME = 'churn'\n"
            'm = mlflow.pyfunc.load_model(f"models:/{NAME}/latest")\n',
            "wb.py": "import wandb\n\nrun = wandb.init()\n"
            "art = run.use_artifact('team/p/churn:latest')\n",
            "hub.py": "from transformers import AutoModel\n\n"
            'model = AutoModel.from_pretrained("acme/churn-bert")\n',
        },
    )
    result = plan(tmp_path, Settings(select=("SVC007",)), ("SVC007",))
    reasons = {r.finding.location.path: r.reason for r in result.refusals}
    assert not result.changes
    assert "computed at run time" in reasons["computed.py"]
    assert "W&B API" in reasons["wb.py"]
    assert "no local Hub cache records it" in reasons["hub.py"]


def test_hub_load_pinned_from_the_local_cache(tmp_path: Path) -> None:
    sha = "0123456789abcdef0123456789abcdef01234567"
    refs = tmp_path / "hf-cache" / "models--acme--churn-bert" / "refs"
    refs.mkdir(parents=True)
    (refs / "main").write_text(sha)
    repo = tmp_path / "repo"
    write(
        repo,
        {
            "hub.py": "from transformers import AutoModel, pipeline\n\n"
            'model = AutoModel.from_pretrained("acme/churn-bert")\n'
            'clf = pipeline("text-classification", model="acme/churn-bert", revision="main")\n'
        },
    )
    result = plan(repo, Settings(select=("SVC007",)), ("SVC007",))
    assert len(result.changes) == 2, result.refusals
    after = result.texts["hub.py"][1]
    assert f'from_pretrained("acme/churn-bert", revision="{sha}")' in after
    assert f'model="acme/churn-bert", revision="{sha}")' in after
    compile(after, "hub.py", "exec")


@pytest.mark.slow
def test_regression_guard_fails_before_and_passes_after(
    tmp_path: Path, registry: tuple[str, dict[str, object]]
) -> None:
    uri, _ = registry
    source, _ = SHAPES["app/constant.py"]
    write(tmp_path, {"app/__init__.py": "", "app/constant.py": source})
    done = run_cli(
        "fix", str(tmp_path), "--select", "SVC007", "--apply", "--allow-dirty", "--tests",
        "--tracking-uri", uri, "--audit-log", str(tmp_path / "ops" / "audit.jsonl"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "fix     SVC007" in done.stdout
    test = "tests/regression/test_svc007_app_constant.py"
    assert run_pytest(tmp_path, test).returncode == 0
    fixed = (tmp_path / "app/constant.py").read_text()
    (tmp_path / "app/constant.py").write_text(source)
    assert run_pytest(tmp_path, test).returncode == 1
    (tmp_path / "app/constant.py").write_text(fixed)
    again = run_cli(
        "fix", str(tmp_path), "--select", "SVC007", "--tracking-uri", uri,
        "--audit-log", str(tmp_path / "ops" / "audit.jsonl"),
    )  # fmt: skip
    assert "nothing to fix" in again.stdout


def test_generated_and_unparsable_files_are_refused(tmp_path: Path) -> None:
    source, _ = SHAPES["app/constant.py"]
    write(tmp_path, {"gen.py": "# @generated by a tool: DO NOT EDIT\n" + source, "app.py": source})
    found = {f.location.path: f for f in findings(tmp_path, "SVC007")}
    assert sorted(found) == ["app.py", "gen.py"]
    with pytest.raises(Refused, match="generated code"):
        FIXER.apply(found["gen.py"], Workspace(tmp_path))
    (tmp_path / "app.py").write_text("def broken(:\n" + source)
    with pytest.raises(Refused, match="does not parse"):
        FIXER.apply(found["app.py"], Workspace(tmp_path))
