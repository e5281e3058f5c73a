"""MON001: PSI computed over equal-width bins instead of reference quantiles."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from infermedic.audit.python.context import FileContext, unparse
from infermedic.audit.python.rule import PythonRule, Scope
from infermedic.model import Finding, Severity

_PSI_NAME = re.compile(r"psi|population_stability|stability_index", re.IGNORECASE)
_UNIFORM_EDGES = frozenset({"numpy.linspace", "numpy.arange", "numpy.histogram_bin_edges"})
# binning call → (position of the bins argument, keyword name, position of the data)
_BINNING = {
    "numpy.histogram": (1, "bins"),
    "pandas.cut": (1, "bins"),
    "numpy.digitize": (1, "bins"),
}


class UniformPsiBins(PythonRule):
    """
    ## What it does
    Checks functions that compute a population stability index (named `psi`,
    `population_stability…`, `stability_index`) for equal-width bins: edges from
    `np.linspace` or `np.arange`, `np.histogram(x, bins=10)`, `np.histogram(x)` or
    `pd.cut(x, bins=10)`, instead of edges taken from reference-data quantiles.

    ## Why is this bad?
    Equal-width bins follow the range, not the data. On a skewed feature most reference
    values fall in one or two bins and the rest are nearly empty, so PSI is dominated by
    the log of tiny shares: it alarms on noise in the tails and misses real shifts in the
    dense part. One outlier widens every bin and changes the score. The usual PSI
    thresholds (0.1, 0.25) assume quantile bins of the reference.

    ## Example
    ```python
    import numpy as np

    def psi(reference, current, n_bins=10):
        edges = np.linspace(reference.min(), reference.max(), n_bins + 1)
        ref = np.histogram(reference, edges)[0] / len(reference)
        cur = np.histogram(current, edges)[0] / len(current)
        ref, cur = np.clip(ref, 1e-6, None), np.clip(cur, 1e-6, None)
        return float(np.sum((cur - ref) * np.log(cur / ref)))
    ```

    Use instead:
    ```python
    import numpy as np

    def psi(reference, current, n_bins=10):
        edges = np.unique(np.quantile(reference, np.linspace(0, 1, n_bins + 1)))
        edges[0], edges[-1] = -np.inf, np.inf
        ref = np.histogram(reference, edges)[0] / len(reference)
        cur = np.histogram(current, edges)[0] / len(current)
        ref, cur = np.clip(ref, 1e-6, None), np.clip(cur, 1e-6, None)
        return float(np.sum((cur - ref) * np.log(cur / ref)))
    ```

    ## Known problems
    Only functions whose name says PSI are examined; PSI computed under another name
    (`drift_score`) or at module level is missed. Edges passed in as a parameter are not
    traced to where they were made.

    ## References
    - `infermedic drift` computes PSI over reference-quantile bins and states the edges.
    """

    code = "MON001"
    name = "uniform-psi-bins"
    severity = Severity.MEDIUM
    summary = "PSI uses equal-width bins instead of reference quantiles."
    fix = (
        "Take the edges from the reference: `np.quantile(reference, np.linspace(0, 1, 11))`, "
        "with open outer bins."
    )
    risk = "Drift alerts fire on tail noise and miss shifts in the dense part of the data."
    checklist = ("D-08",)
    node_types = (ast.FunctionDef, ast.AsyncFunctionDef)

    def check(self, node: ast.AST, scope: Scope) -> Iterator[Finding]:
        assert isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        if not _PSI_NAME.search(node.name):
            return
        ctx = scope.ctx
        uniform: dict[str, ast.Call] = {}  # name → the linspace/arange call that made it
        integers: set[str] = {
            a.arg
            for a, d in _defaults(node.args)
            if isinstance(d, ast.Constant) and isinstance(d.value, int)
        }
        reported: set[int] = set()
        for sub in _own_nodes(node):
            if (
                isinstance(sub, ast.Assign)
                and len(sub.targets) == 1
                and isinstance(sub.targets[0], ast.Name)
            ):
                name = sub.targets[0].id
                value = sub.value
                if isinstance(value, ast.Call) and ctx.qualified_name(value.func) in _UNIFORM_EDGES:
                    uniform[name] = value
                elif isinstance(value, ast.Constant) and isinstance(value.value, int):
                    integers.add(name)
                continue
            if not isinstance(sub, ast.Call):
                continue
            qualified = ctx.qualified_name(sub.func)
            if qualified not in _BINNING:
                continue
            position, keyword_name = _BINNING[qualified]
            bins = (
                sub.args[position]
                if len(sub.args) > position
                else next((k.value for k in sub.keywords if k.arg == keyword_name), None)
            )
            finding = self._judge(sub, bins, qualified, ctx, uniform, integers, reported)
            if finding is not None:
                yield finding

    def _judge(
        self,
        call: ast.Call,
        bins: ast.expr | None,
        qualified: str,
        ctx: FileContext,
        uniform: dict[str, ast.Call],
        integers: set[str],
        reported: set[int],
    ) -> Finding | None:
        short = qualified.replace("numpy.", "np.").replace("pandas.", "pd.")
        source: ast.Call | None = None
        if bins is None and qualified == "numpy.histogram":
            message = f"`{short}` without `bins` uses 10 equal-width bins for PSI"
            anchor: ast.AST = call
        elif isinstance(bins, ast.Constant) and isinstance(bins.value, int | str):
            message = f"`{short}(..., bins={bins.value!r})` makes equal-width bins for PSI"
            anchor = call
        elif isinstance(bins, ast.Name) and bins.id in integers:
            message = f"`{short}(..., bins={bins.id})` makes equal-width bins for PSI"
            anchor = call
        elif isinstance(bins, ast.Name) and bins.id in uniform:
            source = uniform[bins.id]
            message = (
                f"PSI edges `{bins.id}` come from "
                f"`{unparse(source.func)}`: equal-width bins, not reference quantiles"
            )
            anchor = source
        elif isinstance(bins, ast.Call) and ctx.qualified_name(bins.func) in _UNIFORM_EDGES:
            source = bins
            message = f"PSI edges from `{unparse(bins.func)}` are equal-width bins"
            anchor = bins
        else:
            return None
        if id(anchor) in reported:
            return None
        reported.add(id(anchor))
        evidence = [ctx.source_evidence(anchor)]
        if source is not None and anchor is not call:
            evidence.append(ctx.source_evidence(call))
        return self.finding(ctx.location(anchor), message, evidence=evidence)


def _defaults(args: ast.arguments) -> list[tuple[ast.arg, ast.expr]]:
    positional = args.posonlyargs + args.args
    pairs = list(
        zip(positional[len(positional) - len(args.defaults) :], args.defaults, strict=True)
    )
    pairs += [
        (a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None
    ]
    return pairs


def _own_nodes(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.AST]:
    """The function's nodes in source order, without descending into nested functions."""
    found: list[ast.AST] = []
    stack: list[ast.AST] = list(reversed(function.body))
    while stack:
        node = stack.pop()
        found.append(node)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            continue
        stack.extend(reversed(list(ast.iter_child_nodes(node))))
    return found
