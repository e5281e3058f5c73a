"""Writing a demo scenario out as a small, readable repository (see `scenarios`): the app
from its templates, the deployment files, the reference data and `scenario.json`."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from infermedic.demo.data import reference_frame
from infermedic.demo.scenarios import SCENARIO_FILE, TEMPLATE_PACKAGE, Scenario, get_scenario
from infermedic.errors import InputError

__all__ = ["write_scenario"]


def write_scenario(name: str | Scenario, directory: Path | str, *, overwrite: bool = False) -> Path:
    """Write scenario `name` as a small repository in `directory`; returns its resolved path.

    `directory` may exist only if it is empty, unless `overwrite` is true (files this function
    writes are then replaced; others are left alone).
    """
    scenario = get_scenario(name)
    root = Path(directory).expanduser().resolve()
    if root.exists() and not root.is_dir():
        raise InputError(f"{root} exists and is not a directory")
    if root.is_dir() and any(root.iterdir()) and not overwrite:
        raise InputError(
            f"{root} is not empty",
            hint="choose a new directory, or pass --overwrite",
        )
    try:
        _write_files(scenario, root)
    except OSError as exc:
        raise InputError(f"cannot write scenario {scenario.name!r} to {root}: {exc}") from exc
    return root


def _write_files(scenario: Scenario, root: Path) -> None:
    app_templates = resources.files(TEMPLATE_PACKAGE).joinpath("app")
    for module, written_path in scenario.modules:
        text = app_templates.joinpath(f"{module}.py").read_text(encoding="utf-8")
        _write_text(root / written_path, text)
    context = _template_context(scenario)
    for template, written_path in (
        ("Dockerfile.j2", "Dockerfile"),
        ("requirements.txt.j2", "requirements.txt"),
        ("deployment.yaml.j2", "k8s/deployment.yaml"),
        ("hpa.yaml.j2", "k8s/hpa.yaml"),
        ("README.md.j2", "README.md"),
    ):
        _write_text(root / written_path, _render(template, context))
    reference = root / scenario.reference_path
    reference.parent.mkdir(parents=True, exist_ok=True)
    reference_frame().to_parquet(reference, index=False)
    metadata = json.dumps(scenario.metadata(), indent=2) + "\n"
    _write_text(root / SCENARIO_FILE, metadata)


def _template_context(scenario: Scenario) -> dict[str, Any]:
    return {
        "scenario": scenario.name,
        "service_name": f"churn-{scenario.name}",
        "symptom": scenario.symptom,
        "pinned_model_version": scenario.pinned_model_version,
        "env": scenario.env,
        "extra_requirements": scenario.extra_requirements,
        "liveness_path": scenario.liveness_path,
        "readiness_path": scenario.readiness_path,
        "predict_path": scenario.predict_path,
        "metrics_path": scenario.metrics_path,
        "version_path": scenario.version_path,
        "prediction_log_dir": scenario.prediction_log_dir,
    }


def _render(template: str, context: dict[str, Any]) -> str:
    import jinja2

    source = resources.files(TEMPLATE_PACKAGE).joinpath("files", template)
    environment = jinja2.Environment(
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False
    )
    return environment.from_string(source.read_text(encoding="utf-8")).render(context)


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
