"""PKG001: ML packages pinned with `==` in hand-written dependency files."""

from __future__ import annotations

import configparser
import posixpath
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import PurePosixPath
from typing import Any, ClassVar

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from infermedic.audit.deps.parsing import DeclaredRequirement, DependencyFile, parse_dependency_file
from infermedic.audit.project import AuditProject, FileKind, ProjectRule
from infermedic.errors import ConfigError
from infermedic.model import Evidence, EvidenceKind, Finding, Location, NotificationLevel, Severity

DEFAULT_PACKAGES = (
    "torch", "torchvision", "torchaudio", "tensorflow", "tensorflow-cpu", "tensorflow-gpu",
    "keras", "jax", "jaxlib", "scikit-learn", "xgboost", "lightgbm", "catboost",
    "transformers", "sentence-transformers", "tokenizers", "accelerate", "onnx",
    "onnxruntime", "onnxruntime-gpu", "mlflow", "shap",
)  # fmt: skip


class ExactPinnedMlPackage(ProjectRule):
    """## What it does
    Checks for ML packages (torch, tensorflow, scikit-learn, xgboost, lightgbm,
    transformers, onnxruntime, …) pinned with `==` in hand-written dependency files:
    requirements*.txt, pyproject.toml (`[project]`, optional dependencies, dependency
    groups, Poetry tables), setup.cfg, Pipfile and conda environment.yml. Lock files and
    constraints files are skipped: exact pins belong there.

    ## Why is this bad?
    ML packages have heavy, tightly versioned dependency trees (CUDA wheels, numpy ABI,
    protobuf). An exact pin in the declared requirements blocks security and bug-fix
    releases, and makes the service's environment unresolvable as soon as another package
    needs a neighbouring version, which tends to surface as an emergency during an
    incident. Reproducibility is better served by a lock file (`uv lock`, `pip-compile`,
    `poetry lock`) generated from ranges.

    ## Example
    ```text
    fastapi>=0.110
    scikit-learn==1.4.2
    ```

    Use instead:
    ```text
    fastapi>=0.110
    scikit-learn>=1.4.2,<1.5
    ```
    and keep the exact versions in a lock file.

    One finding is reported per dependency file, on its first exact pin, listing every
    pinned package (with a suggested range for each in the fix).

    ## Known problems
    This is debatable, hence the low severity: a pickled scikit-learn or xgboost model is
    only guaranteed to load with the version that saved it, so some teams pin that package
    on purpose. A range that stays within the saving minor version, plus a lock file, keeps
    that guarantee. A `requirements.txt` produced by `pip freeze` is a lock file in all but
    name; rename it (`requirements.lock`) or use a constraints file.

    ## Options
    - `packages`: the package names to check, replacing the default list.
    - `extend-packages`: names added to the default list.
    """

    code: ClassVar[str] = "PKG001"
    name: ClassVar[str] = "exact-pinned-ml-package"
    severity: ClassVar[Severity] = Severity.LOW
    summary: ClassVar[str] = "An ML package is pinned with `==` outside a lock file"
    fix: ClassVar[str] = "Declare a compatible range and keep exact pins in a lock file"
    risk: ClassVar[str] = "unresolvable environments and blocked fixes for the serving stack"
    checklist: ClassVar[tuple[str, ...]] = ("D-05",)
    file_kinds: ClassVar[tuple[FileKind, ...]] = (FileKind.REQUIREMENTS, FileKind.PYPROJECT)

    def check(self, project: AuditProject) -> Iterator[Finding]:
        watched = _packages(project.settings.options_for_rule(self.code))
        files = list(_dependency_files(project))
        constrained = {
            posixpath.normpath(target) for f in files for kind, target in f.includes if kind == "-c"
        }
        for dependency_file in files:
            if dependency_file.lock_reason is not None or dependency_file.relpath in constrained:
                continue
            if (project.root / dependency_file.relpath).with_name("MLmodel").is_file():
                continue  # written by MLflow beside a logged model: a record, not a declaration
            pinned = [
                r
                for r in dependency_file.requirements
                if r.exact_version is not None and r.name in watched
            ]
            if pinned:
                yield self._finding(sorted(pinned, key=lambda r: r.line))

    def _finding(self, pinned: list[DeclaredRequirement]) -> Finding:
        """One finding per dependency file, on its first pinned line, listing every pin:
        the advice is the same for each, and one file is one decision."""
        first = pinned[0]
        evidence = []
        replacements = []
        for requirement in pinned:
            replacement = _range_for(requirement, requirement.exact_version or "")
            if replacement:
                replacements.append(f"`{replacement}`")
            evidence.append(
                Evidence(
                    kind=EvidenceKind.SOURCE,
                    action=f"{requirement.relpath}:{requirement.line}",
                    observed=requirement.written,
                    values={
                        "package": requirement.name,
                        "section": requirement.section,
                        "line": requirement.line,
                        "replacement": replacement or "",
                    },
                )
            )
        names = ", ".join(dict.fromkeys(r.name for r in pinned))
        where = PurePosixPath(first.relpath).name
        if len(pinned) == 1:
            message = (
                f"`{first.written}` pins {first.name} exactly in {where} ({first.section}); "
                "exact pins belong in a lock file"
            )
            fix = (
                f"Replace it with {replacements[0]} and lock exact versions in a lock file"
                if replacements
                else self.fix
            )
        else:
            message = (
                f"{len(pinned)} ML packages are pinned exactly in {where} ({names}); "
                "exact pins belong in a lock file"
            )
            fix = (
                f"Replace them with {', '.join(replacements)} and lock exact versions in a "
                "lock file"
                if replacements
                else self.fix
            )
        return self.finding(
            Location(path=first.relpath, line=first.line, end_line=pinned[-1].line),
            message,
            evidence=evidence,
            fix=fix,
            fingerprint_key="exact-pins",  # the file is in the fingerprint; lines are not
        )


def _packages(options: Mapping[str, Any]) -> frozenset[str]:
    names: list[str] = list(DEFAULT_PACKAGES)
    for key in ("packages", "extend-packages"):
        value = options.get(key)
        if value is None:
            continue
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(
                f"[tool.infermedic.rules.PKG001] `{key}` must be a list of package names",
                hint='e.g. packages = ["torch", "scikit-learn"]',
            )
        names = list(value) if key == "packages" else [*names, *value]
    return frozenset(canonicalize_name(n) for n in names)


def _dependency_files(project: AuditProject) -> Iterator[DependencyFile]:
    seen: set[str] = set()
    pending = [
        (f.path, f.relpath, f.kind == FileKind.REQUIREMENTS)
        for f in project.files_of(FileKind.REQUIREMENTS, FileKind.PYPROJECT)
    ]
    while pending:
        path, relpath, requirements = pending.pop(0)
        if relpath in seen:
            continue
        seen.add(relpath)
        try:
            parsed = parse_dependency_file(path, relpath, requirements=requirements)
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, configparser.Error) as exc:
            project.notify(f"skipped: cannot parse dependency file ({exc})", path=relpath)
            continue
        if parsed is None:
            continue
        yield parsed
        # Follow `-r`/`-c` includes the discovery did not list (`base.in`, `requirements/*.txt`).
        for kind, written in parsed.includes:
            target = posixpath.normpath(written)  # `svc/../common/base.txt` is in the tree
            target_path = project.root / target
            if target in seen:
                continue
            if target.startswith("../") or target == ".." or not project.contains(target_path):
                project.notify(
                    f"`{kind} {written}` points outside the tree: not followed",
                    path=relpath,
                    level=NotificationLevel.NOTE,
                )
                continue
            if target_path.is_file():
                pending.append((target_path, target, True))


def _range_for(requirement: DeclaredRequirement, version: str) -> str | None:
    """`name>=X.Y.Z,<X.(Y+1)` keeping extras and markers, for requirement-string files."""
    try:
        release = Version(version).release
    except InvalidVersion:
        return None
    upper = f"{release[0]}.{release[1] + 1}" if len(release) >= 2 else f"{release[0] + 1}"
    extras = f"[{','.join(requirement.extras)}]" if requirement.extras else ""
    marker = f"; {requirement.marker}" if requirement.marker else ""
    if requirement.section.startswith(("tool.poetry", "packages", "dev-packages")):
        return f'{requirement.written.split(" = ")[0]} = ">={version},<{upper}"'
    if requirement.section == "dependencies":  # conda
        return f"{requirement.name}>={version},<{upper}"
    return f"{requirement.name}{extras}>={version},<{upper}{marker}"
