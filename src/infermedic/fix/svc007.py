"""SVC007: pin an unpinned MLflow model URI to the version `latest` names now.

`models:/churn/latest` (or `models:/churn`) becomes `models:/churn/3`, where 3 is what the
model registry resolves `latest` to at fix time, with a comment above the statement saying
when and from which registry (credentials redacted) the pin was taken. The service then
keeps serving exactly the model it served before the fix, and stops following new versions
until someone moves the pin in a reviewed change.

Without a registry, when the repo's deployment configuration sets the version for the
service (`MODEL_VERSION: "3"` in a Kubernetes manifest, a compose file, a Dockerfile
`ENV`; `fix.deployed`), the URI reads that variable, with that version as the default:
`f"models:/churn/{os.environ.get('MODEL_VERSION', '3')}"`. Otherwise the fix is refused.
The rule's doc suggests reading the version from the deployment
(`f"models:/churn/{os.environ['MODEL_VERSION']}"`), but written blind, with no deployment
file saying which variable is set, that makes every deployment that does not set it fail
at start-up (or, in a per-request load, on every request): code that no longer imports or
serves is a worse outcome than an unpinned URI. So the refusal names both ways: pass the
registry, or read the version from deployment configuration by hand.

W&B artifacts are refused (pinning needs the W&B API). Hugging Face Hub loads are pinned
only when the local Hub cache records the commit the moving branch pointed at when it was
downloaded (`models--ORG--NAME/refs/main`); else refused, since the commit sha is on the Hub
and the fix makes no network call there.
"""

from __future__ import annotations

import ast
import datetime as dt
import os
import re
from pathlib import Path

import libcst as cst

from infermedic.errors import InfermedicError
from infermedic.fix.base import Change, Refused, Workspace, slug
from infermedic.fix.deployed import Pinned, deployed_version
from infermedic.fix.pyedit import Parsed, code_of, finding_site, with_arg, with_imports
from infermedic.model import Finding
from infermedic.settings import Settings

# What SVC007 reports for MLflow: `models:/NAME` or `models:/NAME/latest`.
_MLFLOW = re.compile(r"^models:/(?P<name>[^/@{}]+?)(?:/latest)?/?$", re.IGNORECASE)
_STRINGS = (cst.SimpleString, cst.FormattedString, cst.ConcatenatedString)
_SHA = re.compile(r"^[0-9a-f]{40}$")
NO_REGISTRY = (
    "cannot resolve `latest` without a model registry: pass --tracking-uri (or set "
    "[tool.infermedic.registry] tracking-uri or MLFLOW_TRACKING_URI) to pin the version it "
    "names now, or read the version from deployment configuration by hand "
    "(f\"models:/NAME/{os.environ['MODEL_VERSION']}\")"
)


SVC007 = "SVC007"


class PinModelVersion:
    code = SVC007
    title = "pin the model version (MLflow: what `latest` names in the registry now)"

    def apply(self, finding: Finding, workspace: Workspace) -> Change:
        if not (finding.location.path or "").endswith(".py"):
            raise Refused("the model reference is not in Python code: pin it by hand")
        path, parsed, line = finding_site(finding, workspace)
        node = _string_at(parsed, line, (finding.location.column or 1) - 1)
        text = _literal(code_of(parsed.module, node))
        if "W&B artifact" in finding.message:
            raise Refused(
                "pinning a W&B artifact needs its version from the W&B API: use `:v<N>` "
                "(or a managed alias) by hand"
            )
        if not finding.message.startswith("model URI `models:/"):
            return _pin_hub(finding, workspace, parsed, node, path, line)
        match = _MLFLOW.match(text or "")
        if match is None:
            raise Refused("the model URI is computed at run time: pin its version by hand")
        return self._pin_mlflow(finding, workspace, parsed, node, match["name"], path, line)

    def _pin_mlflow(
        self,
        finding: Finding,
        workspace: Workspace,
        parsed: Parsed,
        node: cst.BaseExpression,
        name: str,
        path: str,
        line: int,
    ) -> Change:
        try:
            version, registry = latest_version(workspace, name)
        except Refused as refused:
            deployed = deployed_version(workspace.root) if str(refused) == NO_REGISTRY else None
            if deployed is None:
                raise
            return _from_deployment(finding, workspace, parsed, node, name, deployed)
        pinned = f"models:/{name}/{version}"
        today = dt.datetime.now(dt.UTC).date().isoformat()
        comment = (
            f"# pinned by `infermedic fix` (SVC007) on {today}: `latest` was version {version}",
            f"# in the registry at {registry}; move the pin in a reviewed deploy",
        )
        new = _edit(parsed, {node: _string_like(node, pinned)}, node, comment)
        workspace.write(path, new.code)
        return Change(
            code=self.code,
            path=path,
            summary=f"`{code_of(parsed.module, node)}` is now `{pinned}` (what latest names now)",
            review=f"{path}:{line}: check that version {version} is the model this service "
            "should serve; from now on a new version serves only when the pin moves",
            where=slug(path),
            finding=finding,
        )


def _from_deployment(
    finding: Finding,
    workspace: Workspace,
    parsed: Parsed,
    node: cst.BaseExpression,
    name: str,
    deployed: Pinned,
) -> Change:
    """The URI reads the version the repo's deployment configuration sets (`fix.deployed`)."""
    path = parsed.relpath
    quote = _string_like(node, "x").value[0]
    inner = "'" if quote == '"' else '"'
    variable, version = (f"{inner}{v}{inner}" for v in (deployed.variable, deployed.version))
    reading = f"os.environ.get({variable}, {version})"
    uri = cst.parse_expression(f"f{quote}models:/{name}/{{{reading}}}{quote}")
    places = ", ".join(deployed.places)
    comment = (
        f"# the model version the deployment pins ({deployed.variable} in {places}), "
        f"{deployed.version}",
        "# where it is unset: `latest` moved without a deploy (`infermedic fix` SVC007)",
    )
    new = with_imports(_edit(parsed, {node: uri}, node, comment), [("os", None)])
    workspace.write(path, new.code)
    return Change(
        code=SVC007,
        path=path,
        summary=f"`{code_of(parsed.module, node)}` now names the version the deployment pins "
        f"(`{deployed.variable}`, {deployed.version} in {places})",
        review=f"{path}: the service serves `{deployed.variable}` (default {deployed.version}); "
        "a new version serves only when the deployment's value moves",
        where=slug(path),
        finding=finding,
    )


def latest_version(workspace: Workspace, name: str) -> tuple[str, str]:
    """The version `models:/NAME/latest` names in the registry now, and the registry as it
    may be shown; refused when no registry is named or it cannot answer. mlflow is imported
    only here, when a registry is named."""
    from infermedic.registry.client import tracking_uri_from
    from infermedic.registry.engine import registry_client, registry_options

    context = workspace.context
    try:
        options = registry_options(context.settings or Settings())
    except InfermedicError as exc:
        raise Refused(f"cannot ask the registry: {exc}") from exc
    if not (context.tracking_uri or options.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")):
        raise Refused(NO_REGISTRY)
    uri = tracking_uri_from(context.tracking_uri, options.tracking_uri)
    key = f"svc007:{uri}:{name}"
    if key not in context.memo:  # once per run: a slow or absent server is asked once
        client = registry_client(uri, options)
        try:
            context.memo[key] = (client.latest_version(name), client.shown_uri)
        except InfermedicError as exc:
            hint = f" ({exc.hint})" if getattr(exc, "hint", None) else ""
            context.memo[key] = f"cannot resolve `latest` of {name!r}: {exc}{hint}"
    answer = context.memo[key]
    if isinstance(answer, str):
        raise Refused(answer)
    assert isinstance(answer, tuple)
    return str(answer[0]), str(answer[1])


def _pin_hub(
    finding: Finding,
    workspace: Workspace,
    parsed: Parsed,
    node: cst.BaseExpression,
    path: str,
    line: int,
) -> Change:
    """`from_pretrained("org/name")` gets `revision="<sha>"` when the local Hub cache knows
    the commit its main branch pointed at; `revision="main"` becomes that sha."""
    call = _enclosing_call(parsed, node)
    if call is None:
        raise Refused(f"cannot tell which model load at {path}:{line} to pin")
    revision = next(
        (a for a in call.args if a.keyword is not None and a.keyword.value == "revision"), None
    )
    branch = "main"
    if revision is not None:
        given = _literal(code_of(parsed.module, revision.value))
        if given is None:
            raise Refused("the revision is computed at run time: pin it by hand")
        branch = given
    repo_id = _hub_repo_id(parsed, call, skip=revision)
    if repo_id is None:
        raise Refused(f"cannot tell which Hub model the call at {path}:{line} loads")
    sha = cached_hub_sha(repo_id, branch)
    if sha is None:
        raise Refused(
            f"pinning `{repo_id}` needs the commit sha of its `{branch}` branch from the Hugging "
            "Face Hub, and no local Hub cache records it (the fix makes no network call): add "
            "`revision=` with the commit you validated"
        )
    value = cst.SimpleString(f'"{sha}"')
    if revision is not None:
        new_call = call.with_changes(
            args=[a.with_changes(value=value) if a is revision else a for a in call.args]
        )
    else:
        arg = cst.Arg(
            keyword=cst.Name("revision"),
            value=value,
            equal=cst.AssignEqual(
                whitespace_before=cst.SimpleWhitespace(""),
                whitespace_after=cst.SimpleWhitespace(""),
            ),
        )
        new_call = with_arg(call, arg)
    today = dt.datetime.now(dt.UTC).date().isoformat()
    comment = (
        f"# pinned by `infermedic fix` (SVC007) on {today}: `{repo_id}` at the commit its",
        f"# `{branch}` branch had in the local Hugging Face cache",
    )
    new = _edit(parsed, {call: new_call}, call, comment)
    workspace.write(path, new.code)
    return Change(
        code="SVC007",
        path=path,
        summary=f"`{repo_id}` is now loaded at revision {sha[:12]} (the cached `{branch}`)",
        review=f"{path}:{line}: check that commit {sha[:12]} of `{repo_id}` is the one you "
        "validated; the cache records what was downloaded here, not what production loads",
        where=slug(path),
        finding=finding,
    )


def cached_hub_sha(repo_id: str, branch: str) -> str | None:
    """The commit `branch` of model `repo_id` pointed at when it was last downloaded, from
    the Hub cache's `models--ORG--NAME/refs/BRANCH` file."""
    home = os.environ.get("HF_HOME") or str(Path.home() / ".cache" / "huggingface")
    cache = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    root = Path(cache or Path(home) / "hub").expanduser()
    ref = root / f"models--{repo_id.replace('/', '--')}" / "refs" / branch
    try:
        sha = ref.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return sha if _SHA.match(sha) else None


def _hub_repo_id(parsed: Parsed, call: cst.Call, *, skip: cst.Arg | None) -> str | None:
    names = {"pretrained_model_name_or_path", "model", "repo_id", "model_name_or_path"}
    for arg in call.args:
        if arg is skip or arg.star:
            continue
        if arg.keyword is None or arg.keyword.value in names:
            text = _literal(code_of(parsed.module, arg.value))
            if text is not None and "/" in text:
                return text
    return None


def _enclosing_call(parsed: Parsed, node: cst.CSTNode) -> cst.Call | None:
    parent = parsed.parent(node)
    if isinstance(parent, cst.Arg):
        grand = parsed.parent(parent)
        return grand if isinstance(grand, cst.Call) else None
    return None


def _string_at(parsed: Parsed, line: int, column: int) -> cst.BaseExpression:
    """The outermost string literal starting at `line`:`column` (an implicit concatenation
    starts where its first part does)."""
    found = [
        node
        for node in parsed.positions
        if isinstance(node, _STRINGS) and parsed.start(node) == (line, column)
    ]
    outer = [n for n in found if not isinstance(parsed.parent(n), cst.ConcatenatedString)]
    if len(outer) != 1 or not isinstance(outer[0], cst.BaseExpression):
        raise Refused(f"cannot find the model reference at {parsed.relpath}:{line}")
    return outer[0]


def _literal(code: str) -> str | None:
    """The text of a string literal with no computed part (f-strings included), else None."""
    try:
        tree = ast.parse(code.strip(), mode="eval").body
    except SyntaxError:
        return None
    if isinstance(tree, ast.Constant) and isinstance(tree.value, str):
        return tree.value
    if isinstance(tree, ast.JoinedStr) and all(isinstance(v, ast.Constant) for v in tree.values):
        return "".join(str(v.value) for v in tree.values if isinstance(v, ast.Constant))
    return None


def _string_like(original: cst.BaseExpression, text: str) -> cst.SimpleString:
    """`text` as a string literal in the quote style of `original`."""
    code = original.value if isinstance(original, cst.SimpleString) else '"'
    quote = "'" if code.lstrip("rRbBuU").startswith("'") else '"'
    if quote in text or "\\" in text or "\n" in text:
        return cst.SimpleString(repr(text))
    return cst.SimpleString(f"{quote}{text}{quote}")


def _edit(
    parsed: Parsed,
    replacements: dict[cst.CSTNode, cst.CSTNode],
    anchor: cst.CSTNode,
    comment: tuple[str, ...],
) -> cst.Module:
    """The module with `replacements` made and the `comment` lines above the statement
    holding `anchor`."""
    statement: cst.CSTNode | None = anchor
    while statement is not None and not isinstance(
        statement, cst.SimpleStatementLine | cst.BaseCompoundStatement
    ):
        statement = parsed.parent(statement)
    if statement is None:
        raise Refused("the model reference is not inside a statement")
    target = statement

    class Edit(cst.CSTTransformer):
        def on_leave(  # type: ignore[override]
            self, original_node: cst.CSTNode, updated_node: cst.CSTNode
        ) -> cst.CSTNode:
            updated = replacements.get(original_node, updated_node)
            if original_node is target and isinstance(
                updated, cst.SimpleStatementLine | cst.BaseCompoundStatement
            ):
                lines = [cst.EmptyLine(comment=cst.Comment(text)) for text in comment]
                return updated.with_changes(leading_lines=[*updated.leading_lines, *lines])
            return updated

    result = parsed.module.visit(Edit())
    assert isinstance(result, cst.Module)
    return result


FIXER = PinModelVersion()
