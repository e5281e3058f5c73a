"""DKR001: model artifacts copied into the container image."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from typing import ClassVar

from infermedic.audit.dockerfile.parser import Instruction, env_pairs
from infermedic.audit.dockerfile.reading import (
    context_model_files,
    dockerfiles,
    in_model_dir,
    is_model_path,
    names_model_dir,
)
from infermedic.audit.project import AuditProject, FileKind, ProjectRule, SourceFile
from infermedic.model import Evidence, EvidenceKind, Finding, Location, Severity

_SHOWN = 5


class ModelCopiedIntoImage(ProjectRule):
    """## What it does
    Checks for `COPY` and `ADD` instructions that put model artifacts into the image: files
    such as `*.pkl`, `*.joblib`, `*.pt`, `*.onnx`, `*.safetensors`, weights under a `models/`
    directory, or a `COPY . .` whose build context holds such files that `.dockerignore`
    does not exclude, and `RUN wget`/`curl`/`aws s3 cp`/`gsutil cp` of a model file at build
    time. Variables in the source (`COPY ${MODEL_PATH} ...`) are resolved from
    the `ARG` defaults and `ENV` values above the instruction.

    ## Why is this bad?
    A model baked into the image ties the model version to the image build: a retrained
    model needs a new image, rollback means redeploying code, and two replicas built at
    different times can serve different models under one tag. Images also grow by the size
    of the weights, which slows every pull, scale-up and cold start.

    ## Example
    ```dockerfile
    FROM python:3.11-slim
    COPY app/ /app/
    COPY models/churn.joblib /app/models/churn.joblib
    CMD ["uvicorn", "app.main:app", "--host", "0.0.0.0"]
    ```

    Use instead:
    ```dockerfile
    FROM python:3.11-slim
    COPY app/ /app/
    ENV MODEL_URI=models:/churn/3
    CMD ["uvicorn", "app.main:app", "--host", "0.0.0.0"]
    ```
    and load `MODEL_URI` once at start-up (in the lifespan handler).

    ## Known problems
    The build context is taken to be the Dockerfile's directory. Models fetched by a `RUN`
    step (`RUN python download.py`, `RUN wget …/model.pt`) and files copied by scripts are
    not seen. Some teams bake models on purpose for air-gapped clusters; suppress the line
    with `# infermedic: ignore[DKR001]` there.
    """

    code: ClassVar[str] = "DKR001"
    name: ClassVar[str] = "model-copied-into-image"
    severity: ClassVar[Severity] = Severity.MEDIUM
    summary: ClassVar[str] = "Model artifacts are copied into the container image"
    fix: ClassVar[str] = (
        "Load the model by version at start-up (registry URI or object store) and keep model "
        "files out of the build context with `.dockerignore`"
    )
    risk: ClassVar[str] = (
        "model version tied to the image build; bigger images, slower pulls and cold starts"
    )
    checklist: ClassVar[tuple[str, ...]] = ("D-11",)
    file_kinds: ClassVar[tuple[FileKind, ...]] = (FileKind.DOCKERFILE,)

    def check(self, project: AuditProject) -> Iterator[Finding]:
        for file, dockerfile in dockerfiles(project):
            variables: dict[str, str] = {}  # ARG defaults and ENV values seen so far
            for instruction in dockerfile.instructions:
                if instruction.keyword == "ARG":
                    for word in instruction.arguments.split():
                        name, sep, default = word.partition("=")
                        if sep:
                            variables[name] = default.strip("\"'")
                elif instruction.keyword == "ENV":
                    variables.update(env_pairs(instruction.arguments))
                elif instruction.keyword in ("COPY", "ADD"):
                    yield from self._check_copy(project, file, instruction, variables)
                elif instruction.keyword == "RUN":
                    yield from self._check_download(file, instruction, variables)

    def _check_download(
        self, file: SourceFile, instruction: Instruction, variables: dict[str, str]
    ) -> Iterator[Finding]:
        """`RUN wget/curl URL`, `aws s3 cp`, `gsutil cp` of a model file at build time."""
        for command in re.split(r"&&|\|\||;|\|", instruction.arguments):
            words = [_expand(w, variables) for w in _words(command)]
            if not words or not _downloads(words):
                continue
            model = next((w for w in words[1:] if not w.startswith("-") and is_model_path(w)), None)
            if model is None:
                continue
            where = f"{file.relpath}:{instruction.line}"
            seen = instruction.source_line
            yield self.finding(
                Location(path=file.relpath, line=instruction.line),
                f"`{words[0]}` downloads the model artifact `{model}` into the image at build time",
                evidence=[Evidence(kind=EvidenceKind.SOURCE, action=where, observed=seen)],
                fix="Download the model by version at start-up (or mount it) instead of at build",
                fingerprint_key=f"download|{model}",
            )

    def _check_copy(
        self,
        project: AuditProject,
        file: SourceFile,
        instruction: Instruction,
        variables: dict[str, str],
    ) -> Iterator[Finding]:
        flags, _ = instruction.split_flags()
        # `COPY ${MODEL_PATH} /app/` copies what the ARG default names (a build may pass
        # another value; the default is what a plain `docker build` copies)
        words = [_expand(w, variables) for w in instruction.words()]
        if len(words) < 2 or any(w.startswith("<<") for w in words):
            return  # heredoc content or a malformed instruction
        where = f"{file.relpath}:{instruction.line}"
        evidence = [
            Evidence(kind=EvidenceKind.SOURCE, action=where, observed=instruction.source_line)
        ]
        location = Location(path=file.relpath, line=instruction.line)
        elsewhere = "from" in flags  # another stage or image: judge by name only
        verb = instruction.keyword + (f" --from={flags['from']}" if elsewhere else "")
        for source in words[:-1]:
            remote = source.startswith(("http://", "https://", "git@"))
            if is_model_path(source):
                yield self.finding(
                    location,
                    f"`{verb} {source}` copies a model artifact into the image",
                    evidence=evidence,
                    fix=f"Delete `{instruction.source_line}` and load the model by version at "
                    "start-up",
                    fingerprint_key=source,
                )
                continue
            if elsewhere or remote:
                if names_model_dir(source) or in_model_dir(source):
                    yield self.finding(
                        location,
                        f"`{verb} {source}` copies a model directory into the image",
                        evidence=evidence,
                        fingerprint_key=source,
                    )
                continue
            if "*" in source or "?" in source:
                continue  # a glob without a model suffix: cannot tell what it copies
            found, exists = context_model_files(project, file, source)
            if found:
                shown = ", ".join(found[:_SHOWN]) + (" …" if len(found) > _SHOWN else "")
                evidence_ctx = Evidence(
                    kind=EvidenceKind.SOURCE,
                    action=f"build context of {file.relpath}, after .dockerignore",
                    observed=f"{len(found)} model file(s): {shown}",
                    values={"model_files": found},
                )
                target = "models/" if source in (".", "./") else source.rstrip("/") + "/"
                yield self.finding(
                    location,
                    f"`{verb} {source}` copies {len(found)} model file(s) into the image ({shown})",
                    evidence=[*evidence, evidence_ctx],
                    fix=f"Add the model files (e.g. `{_ignore_line(found, target)}`) to "
                    ".dockerignore and load the model by version at start-up",
                    fingerprint_key=source,
                )
            elif not exists and names_model_dir(source):
                yield self.finding(
                    location,
                    f"`{verb} {source}` copies a model directory into the image "
                    "(it is not in the repository, so it is produced before `docker build`)",
                    evidence=evidence,
                    fingerprint_key=source,
                )


def _words(command: str) -> list[str]:
    try:
        return shlex.split(command)
    except ValueError:
        return command.split()


def _downloads(words: list[str]) -> bool:
    """`wget`, `curl`, `aws s3 cp`, `gsutil cp`, `azcopy copy` (a tool, not its install)."""
    tool = words[0].rsplit("/", 1)[-1]
    if tool in {"wget", "curl"}:
        return True
    if tool == "aws":
        return words[1:3] == ["s3", "cp"]
    if tool in {"gsutil", "azcopy"}:
        return len(words) > 1 and words[1] in {"cp", "copy"}
    return False


def _ignore_line(found: list[str], fallback: str) -> str:
    """A `.dockerignore` line covering the files: their shared directory, else a suffix glob."""
    directories = {f.rsplit("/", 1)[0] for f in found if "/" in f}
    if len(directories) == 1 and all("/" in f for f in found):
        return directories.pop() + "/"
    suffixes = {f.rsplit(".", 1)[-1] for f in found}
    return f"**/*.{suffixes.pop()}" if len(suffixes) == 1 else fallback


_VARIABLE = re.compile(
    r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?::?-(?P<default>[^}]*))?\}|"
    r"(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


def _expand(word: str, variables: dict[str, str]) -> str:
    """`${NAME}`, `$NAME` and `${NAME:-fallback}` replaced by known values; an unknown
    variable is left as written (and then matches no model path)."""

    def replace(match: re.Match[str]) -> str:
        name = match.group("braced") or match.group("bare")
        if name in variables:
            return variables[name]
        default = match.group("default")
        return default if default is not None else match.group(0)

    return _VARIABLE.sub(replace, word) if "$" in word else word
