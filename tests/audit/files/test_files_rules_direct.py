"""Rule behaviour beyond (line, code): severities from cross-file facts, evidence, fixes,
options."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest
from filerules_support import make_project, routes_from, run, write_files

from infermedic.audit import audit
from infermedic.audit.deps.rules.exact_pinned_ml_package import ExactPinnedMlPackage
from infermedic.audit.dockerfile.rules.model_copied_into_image import ModelCopiedIntoImage
from infermedic.audit.dockerfile.rules.multiple_server_workers import MultipleServerWorkers
from infermedic.audit.k8s.rules.liveness_equals_readiness import LivenessEqualsReadiness
from infermedic.audit.k8s.rules.memory_based_hpa import MemoryBasedHpa
from infermedic.audit.repo.rules.terraform_state_in_git import TerraformStateInGit
from infermedic.errors import ConfigError
from infermedic.model import EvidenceKind, Severity
from infermedic.settings import Settings

GUNICORN_CMD = 'FROM python:3.11-slim\nCMD ["gunicorn", "-w", "4", "app.main:app"]\n'
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: churn-api}
spec:
  template:
    spec:
      containers:
        - name: api
          image: churn-api:1
          command: ["uvicorn", "app.main:app", "--workers", "2"]
"""
HPA = """\
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: churn-api}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: churn-api}
  maxReplicas: 5
  metrics:
    - type: Resource
      resource: {name: memory, target: {type: Utilization, averageUtilization: 70}}
"""


def test_workers_severity_follows_what_the_repo_deploys_to(tmp_path: Path) -> None:
    alone = make_project(write_files(tmp_path / "alone", {"Dockerfile": GUNICORN_CMD}))
    (finding,) = run(MultipleServerWorkers, alone)
    assert finding.severity is Severity.LOW
    assert "no Kubernetes manifests" in finding.message
    assert finding.evidence[0].kind is EvidenceKind.SOURCE
    assert finding.evidence[0].action == "Dockerfile:2"
    assert finding.evidence[0].observed == 'CMD ["gunicorn", "-w", "4", "app.main:app"]'
    assert finding.fix == (
        'Replace the line with `CMD ["gunicorn", "app.main:app"]` and scale with pods'
    )

    files = {"Dockerfile": GUNICORN_CMD, "k8s/deploy.yaml": DEPLOYMENT}
    pods = make_project(write_files(tmp_path / "pods", files))
    assert {f.severity for f in run(MultipleServerWorkers, pods)} == {Severity.MEDIUM}

    scaled = make_project(write_files(tmp_path / "hpa", {**files, "k8s/hpa.yaml": HPA}))
    findings = {f.location.path: f for f in run(MultipleServerWorkers, scaled)}
    assert {f.severity for f in findings.values()} == {Severity.HIGH}
    manifest = findings["k8s/deploy.yaml"]
    assert manifest.location.line == 10
    assert manifest.message.startswith("Deployment churn-api starts 2 worker processes")
    assert manifest.evidence[1].action == "k8s/hpa.yaml:2"
    assert manifest.evidence[1].observed == (
        "k8s/hpa.yaml:2 defines HorizontalPodAutoscaler churn-api"
    )


def test_model_copy_evidence_lists_context_files(tmp_path: Path) -> None:
    root = write_files(
        tmp_path,
        {
            "Dockerfile": "FROM python:3.11-slim\nCOPY . /srv\n",
            "artifacts/a.onnx": "x",
            "artifacts/b.onnx": "x",
            "app/main.py": "",
        },
    )
    (finding,) = run(ModelCopiedIntoImage, make_project(root))
    context = finding.evidence[1]
    assert context.values["model_files"] == ["artifacts/a.onnx", "artifacts/b.onnx"]
    assert "`artifacts/`" in finding.fix
    (root / ".dockerignore").write_text("artifacts\n", encoding="utf-8")
    assert run(ModelCopiedIntoImage, make_project(root)) == []


def test_dockerfile_in_a_subdirectory_uses_its_own_context(tmp_path: Path) -> None:
    root = write_files(
        tmp_path,
        {"services/api/Dockerfile": "FROM x\nCOPY . /srv\n", "services/api/m/model.pt": "x"},
    )
    tracked = ("services/api/Dockerfile", "services/api/m/model.pt", "other/model.pt")
    (finding,) = run(ModelCopiedIntoImage, make_project(root, tracked=tracked))
    assert finding.location.path == "services/api/Dockerfile"
    assert finding.evidence[1].values["model_files"] == ["m/model.pt"]


def test_memory_hpa_is_high_when_memory_is_the_only_metric(tmp_path: Path) -> None:
    mixed = HPA.replace(
        "  metrics:\n",
        "  metrics:\n    - type: Resource\n"
        "      resource: {name: cpu, target: {type: Utilization, averageUtilization: 60}}\n",
    )
    root = write_files(tmp_path, {"only.yaml": HPA, "mixed.yaml": mixed})
    findings = {f.location.path: f for f in run(MemoryBasedHpa, make_project(root))}
    assert findings["only.yaml"].severity is Severity.HIGH
    assert findings["mixed.yaml"].severity is Severity.MEDIUM
    assert findings["only.yaml"].evidence[0].observed.startswith("resource: {name: memory")


def test_readiness_on_liveness_path_needs_known_routes(tmp_path: Path) -> None:
    manifest = DEPLOYMENT.replace(
        '          command: ["uvicorn", "app.main:app", "--workers", "2"]\n',
        "          readinessProbe: {httpGet: {path: /health, port: 8000}}\n",
    )
    root = write_files(tmp_path, {"deploy.yaml": manifest})
    assert run(LivenessEqualsReadiness, make_project(root)) == []
    routes = routes_from(["GET /health", "GET /ready"])
    (finding,) = run(LivenessEqualsReadiness, make_project(root, routes=routes))
    assert finding.severity is Severity.MEDIUM
    assert finding.fix == "Replace `path: /health` with `path: /ready` in the readinessProbe"


def test_pins_follow_includes_and_skip_constraints(tmp_path: Path) -> None:
    root = write_files(
        tmp_path,
        {
            "requirements.txt": "-r requirements/base.in\n-c requirements/pins.txt\nfastapi\n",
            "requirements/base.in": "torch==2.3.1 ; python_version >= '3.10'\n",
            "requirements/pins.txt": "torch==2.3.1\n",
        },
    )
    project = make_project(root)
    # discovery lists only the top file here; the rule follows `-r` and `-c` itself
    project.files = tuple(f for f in project.files if f.relpath == "requirements.txt")
    (finding,) = run(ExactPinnedMlPackage, project)
    assert finding.location.path == "requirements/base.in"
    assert finding.severity is Severity.LOW
    assert finding.fix.startswith('Replace it with `torch>=2.3.1,<2.4; python_version >= "3.10"`')


def test_pin_options_replace_or_extend_the_package_list(tmp_path: Path) -> None:
    root = write_files(tmp_path, {"requirements.txt": "numpy==1.26.4\ntorch==2.3.1\n"})
    default = run(ExactPinnedMlPackage, make_project(root))
    assert [f.location.line for f in default] == [2]
    extend = Settings(rule_options={"PKG001": {"extend-packages": ["NumPy"]}})
    (grouped,) = run(ExactPinnedMlPackage, make_project(root, settings=extend))
    assert grouped.location.line == 1 and "(numpy, torch)" in grouped.message
    replace = Settings(rule_options={"PKG001": {"packages": ["numpy"]}})
    assert [
        f.location.line for f in run(ExactPinnedMlPackage, make_project(root, settings=replace))
    ] == [1]
    bad = Settings(rule_options={"PKG001": {"packages": "numpy"}})
    with pytest.raises(ConfigError):
        run(ExactPinnedMlPackage, make_project(root, settings=bad))


def test_unparseable_dependency_files_become_notifications(tmp_path: Path) -> None:
    root = write_files(
        tmp_path,
        {
            "pyproject.toml": "[project\n",
            "Pipfile": b"\xc3\x28 = 1",
            "requirements.txt": "torch==2\n",
        },
    )
    project = make_project(root)
    assert len(run(ExactPinnedMlPackage, project)) == 1
    assert {n.path for n in project.notifications} == {"pyproject.toml", "Pipfile"}


def test_terraform_state_message_counts_resources_without_values(tmp_path: Path) -> None:
    state = (
        '{"version": 4, "resources": [{"type": "aws_db_instance",'
        ' "instances": [{"attributes": {"password": "hunter2"}}]}]}'
    )
    root = write_files(tmp_path, {"infra/terraform.tfstate": state})
    (tracked,) = run(TerraformStateInGit, make_project(root, tracked=("infra/terraform.tfstate",)))
    assert tracked.severity is Severity.HIGH
    assert tracked.location.line is None
    assert "1 resource(s)" in tracked.message
    assert "hunter2" not in repr(tracked)
    assert tracked.evidence[0].action == "git ls-files"
    (untracked,) = run(TerraformStateInGit, make_project(root))
    assert untracked.severity is Severity.MEDIUM
    assert "not a git repository" in untracked.message


def test_pins_are_one_finding_per_file_listing_each_package(tmp_path: Path) -> None:
    root = write_files(
        tmp_path,
        {
            "requirements.txt": "fastapi>=0.110\ntorch==2.3.1\nscikit-learn==1.4.2\n",
            "serving/requirements.txt": "xgboost==2.0.3\n",
        },
    )
    findings = sorted(run(ExactPinnedMlPackage, make_project(root)), key=lambda f: f.location.path)
    assert [(f.location.path, f.location.line) for f in findings] == [
        ("requirements.txt", 2),
        ("serving/requirements.txt", 1),
    ]
    grouped = findings[0]
    assert grouped.message.startswith("2 ML packages are pinned exactly in requirements.txt")
    assert grouped.location.end_line == 3
    assert [e.values["package"] for e in grouped.evidence] == ["torch", "scikit-learn"]
    assert "`torch>=2.3.1,<2.4`" in grouped.fix and "`scikit-learn>=1.4.2,<1.5`" in grouped.fix
    assert findings[1].message.startswith("`xgboost==2.0.3` pins xgboost exactly")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-8-sig"])
def test_requirements_written_by_windows_tools_are_read(tmp_path: Path, encoding: str) -> None:
    # PowerShell's `pip freeze > requirements.txt` writes UTF-16 with a byte-order mark.
    text = "fastapi>=0.110\r\ntorch==2.3.1\r\n"
    data = text.encode(encoding)
    if encoding == "utf-16-be":
        data = codecs.BOM_UTF16_BE + data
    (tmp_path / "requirements.txt").write_bytes(data)
    report = audit([tmp_path], Settings(select=("PKG001",)))
    assert [(f.location.path, f.location.line) for f in report.findings] == [
        ("requirements.txt", 2)
    ]
    assert not [n for n in report.notifications if n.path == "requirements.txt"]
