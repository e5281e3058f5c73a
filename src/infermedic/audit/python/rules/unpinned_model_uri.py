"""SVC007: a model registry URI that names no version."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from infermedic.audit.python.rule import PythonRule, Scope
from infermedic.model import Finding, Severity

# `models:/churn`, `models:/churn/latest`; `{}` stands for an f-string field.
_UNPINNED = re.compile(r"^models:/([^/@]+?)(?:/(latest))?/?$", re.IGNORECASE)


class UnpinnedModelUri(PythonRule):
    """
    ## What it does
    Checks for model references that do not pin what is served: MLflow registry URIs
    `models:/churn/latest` or `models:/churn` with no version or alias, in calls and
    assignments (f-strings included); Weights & Biases artifacts used as `:latest` or with
    no version; and Hugging Face Hub models (`from_pretrained("org/name")`,
    `pipeline(model=...)`, `hf_hub_download`, `SentenceTransformer`) loaded with no
    `revision=` or at a branch (`main`).

    A relative path shaped like a Hub id (`weights-v2/churn`) is taken for one; common
    local folders (`models/`, `artifacts/`, `checkpoints/`…) and file names are not.

    ## Why is this bad?
    "Latest" moves whenever anyone registers a version. Pods that start at different
    times serve different models behind one Service, a rollback redeploys whatever is
    newest, and a prediction cannot be traced to the model that made it.

    ## Example
    ```python
    import mlflow

    model = mlflow.pyfunc.load_model("models:/churn/latest")
    ```

    Use instead:
    ```python
    import os

    import mlflow

    model = mlflow.pyfunc.load_model(f"models:/churn/{os.environ['MODEL_VERSION']}")
    ```

    ## Known problems
    Registry stages (`models:/churn/Production`) and aliases (`models:/churn@champion`)
    are moving references too, but they are deliberate promotion mechanisms and are not
    reported. URIs read from configuration files or environment variables are not seen.
    """

    code = "SVC007"
    name = "unpinned-model-uri"
    severity = Severity.MEDIUM
    summary = "A model registry URI names no version, so what is served can change silently."
    fix = (
        "Pin the version (`models:/churn/3`) or a deliberately managed alias "
        "(`models:/churn@champion`), passed in by deployment configuration."
    )
    risk = "Pods serve different models; rollbacks and incident analysis lose the version."
    checklist = ()
    node_types = (ast.Call, ast.Assign, ast.AnnAssign)

    def check(self, node: ast.AST, scope: Scope) -> Iterator[Finding]:
        if isinstance(node, ast.Call):
            found = _wandb_latest(node) or _hub_unpinned(node, scope)
            if found is not None:
                where, message = found
                yield self.finding(
                    scope.ctx.location(where), message, evidence=scope.evidence(where)
                )
                return
            values: list[ast.expr] = [*node.args, *(k.value for k in node.keywords)]
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            values = [node.value] if node.value is not None else []
        else:
            return
        for value in values:
            text = _template(value)
            if text is None:
                continue
            match = _UNPINNED.match(text)
            if match is None or ("{}" in match.group(1) and not match.group(2)):
                continue  # `f"models:/{uri}"` may carry its version inside the field
            kind = "`latest`" if match.group(2) else "no version"
            yield self.finding(
                scope.ctx.location(value),
                f"model URI `{text}` has {kind}: the served model can change without a deploy",
                evidence=scope.evidence(value),
            )


def _template(value: ast.expr) -> str | None:
    if isinstance(value, ast.Constant) and isinstance(value.value, str):
        return value.value if value.value.startswith("models:/") else None
    if isinstance(value, ast.JoinedStr):
        parts = [str(v.value) if isinstance(v, ast.Constant) else "{}" for v in value.values]
        text = "".join(parts)
        return text if text.startswith("models:/") else None
    return None


_WANDB_METHODS = frozenset({"use_artifact", "artifact"})
# `org/name` on the Hugging Face Hub (not `./dir`, `/abs/path` or `models/model.bin`).
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_HUB_DOWNLOADS = frozenset(
    {
        "huggingface_hub.hf_hub_download",
        "huggingface_hub.snapshot_download",
        "transformers.pipeline",
        "sentence_transformers.SentenceTransformer",
    }
)
_MOVING_REVISIONS = frozenset({"main", "master"})


def _wandb_latest(node: ast.Call) -> tuple[ast.expr, str] | None:
    """`run.use_artifact("team/proj/model:latest")`, or a name with no version (W&B takes
    `latest` then)."""
    func = node.func
    if not (isinstance(func, ast.Attribute) and func.attr in _WANDB_METHODS and node.args):
        return None
    first = node.args[0]
    text = _string(first)
    if text is None or "/" not in text and ":" not in text:
        return None  # `obj.artifact("x")` on something that is not W&B
    name, _, version = text.rpartition(":") if ":" in text else (text, "", "")
    if version.lower() == "latest":
        return first, f"W&B artifact `{text}` is `:latest`: the served model can change"
    if not version and "{}" not in name:
        return first, f"W&B artifact `{text}` names no version, so W&B serves `latest`"
    return None


def _hub_unpinned(node: ast.Call, scope: Scope) -> tuple[ast.expr, str] | None:
    """`AutoModel.from_pretrained("org/name")`, `pipeline(model="org/name")`,
    `hf_hub_download("org/name", ...)` with no `revision=` (or a branch name)."""
    func = node.func
    qualified = scope.qualified(func)
    from_pretrained = isinstance(func, ast.Attribute) and func.attr == "from_pretrained"
    if not from_pretrained and qualified not in _HUB_DOWNLOADS:
        return None
    names = ("pretrained_model_name_or_path", "model", "repo_id", "model_name_or_path")
    target = (
        node.args[0]
        if node.args
        else next((k.value for k in node.keywords if k.arg in names), None)
    )
    if qualified == "transformers.pipeline":
        target = next((k.value for k in node.keywords if k.arg == "model"), None)
    text = _string(target) if target is not None else None
    if target is None or text is None or not _is_hub_id(text):
        return None
    revision = next((k.value for k in node.keywords if k.arg == "revision"), None)
    if revision is None:
        return target, (
            f"`{text}` is fetched from the Hugging Face Hub with no `revision=`: the served "
            "weights change when the repository's main branch does"
        )
    pinned = _string(revision)
    if pinned is not None and pinned in _MOVING_REVISIONS:
        return revision, f"`{text}` is fetched at branch `{pinned}`, which moves"
    return None


# Folders a repo keeps its own weights in: `models/churn` is a local path, not a Hub id.
_LOCAL_DIRS = frozenset(
    {"models", "model", "artifacts", "artifact", "checkpoints", "checkpoint", "ckpt", "output"}
    | {"outputs", "weights", "saved_models", "saved_model", "data", "src", "app", "runs"}
)
_FILE_SUFFIXES = (".bin", ".pt", ".pth", ".safetensors", ".onnx", ".json", ".pkl", ".h5")


def _is_hub_id(text: str) -> bool:
    if "{}" in text or not _HUB_ID.match(text):
        return False
    owner = text.split("/", 1)[0].lower()
    return owner not in _LOCAL_DIRS and not text.lower().endswith(_FILE_SUFFIXES)


def _string(value: ast.expr) -> str | None:
    if isinstance(value, ast.Constant) and isinstance(value.value, str):
        return value.value
    if isinstance(value, ast.JoinedStr):
        return "".join(str(v.value) if isinstance(v, ast.Constant) else "{}" for v in value.values)
    return None
