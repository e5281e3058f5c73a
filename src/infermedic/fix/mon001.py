"""MON001: PSI over reference-quantile bins instead of equal-width ones.

The equal-width edges (`np.linspace(lo, hi, n)`, `np.histogram_bin_edges(ref, bins=n)`) or
the bin count (`np.histogram(x, bins=10)`, `pd.cut(x, bins=n)`, `np.histogram(x)`) become
`_quantile_edges(reference, n)`: a module-level helper the fix adds once, which takes the
edges from the reference's quantiles, merges tied edges and opens the outer bins, so current
values outside the reference range still land in a bin. The reference is the argument the
edges were computed from (`reference.min()`), else the PSI function's parameter that names
it (`reference`, `expected`, `baseline`, `train`…), else its first parameter. `np.arange`
edges are refused: their count depends on the step.
"""

from __future__ import annotations

import re

import libcst as cst

from infermedic.fix.base import Change, Refused, Workspace, slug
from infermedic.fix.pyedit import (
    Parsed,
    after_imports,
    code_of,
    dotted,
    replace_nodes,
    the_call,
    with_arg,
)
from infermedic.model import Finding

HELPER = "_quantile_edges"
_HELPER_TEXT = '''def {helper}(reference, count):
    """PSI bin edges from `count` reference quantiles: tied edges merged, outer bins open
    (`infermedic fix` MON001)."""
    values = {np}.asarray(reference, dtype=float)
    values = values[~{np}.isnan(values)]
    edges = {np}.unique({np}.quantile(values, {np}.linspace(0, 1, count)))
    if edges.size < 2:
        return {np}.array([-{np}.inf, {np}.inf])
    edges[0], edges[-1] = -{np}.inf, {np}.inf
    return edges
'''
_REFERENCE_NAME = re.compile(r"ref|expected|base|train|before|old|source", re.I)
_DEFAULT_BINS = {"histogram": 10, "histogram_bin_edges": 10, "linspace": 50}


class QuantileBins:
    code = "MON001"
    title = "PSI over reference-quantile bins"

    def apply(self, finding: Finding, workspace: Workspace) -> Change:
        path, parsed, _line, call = the_call(finding, workspace, "makes the PSI bins")
        function = parsed.enclosing_function(call)
        if function is None:
            raise Refused("the binning is not inside the PSI function")
        numpy = _numpy_alias(parsed.module)
        name = (dotted(call.func) or "").rsplit(".", 1)[-1]
        if name == "arange":
            raise Refused("`np.arange` edges: the bin count depends on the step; use quantiles")
        if name == "linspace":
            count = _arg(call, 2, "num") or cst.Integer(str(_DEFAULT_BINS["linspace"]))
            low = _arg(call, 0, "start")
            reference = _reference_of(low, parsed) or _reference_param(function)
            new: cst.BaseExpression = _helper_call(reference, count)
        elif name == "histogram_bin_edges":
            data = _arg(call, 0, "a")
            if data is None:
                raise Refused("cannot tell which data the edges are taken from")
            reference = data
            new = _helper_call(data, _plus_one(_arg(call, 1, "bins"), name))
        elif name in ("histogram", "cut", "digitize"):
            reference = _reference_param(function)
            bins = _arg(call, 1, "bins")
            edges = _helper_call(reference, _plus_one(bins, name))
            new = _with_bins(call, bins, edges)
        else:
            raise Refused(f"no quantile rewrite for `{code_of(parsed.module, call.func)}`")
        module = replace_nodes(parsed.module, {call: new})
        module = _with_helper(module, numpy)
        workspace.write(path, module.code)
        return Change(
            code=self.code,
            path=path,
            summary=f"in `{function.name.value}`, the PSI bins now come from reference "
            f"quantiles (`{HELPER}({code_of(parsed.module, reference)}, ...)`)",
            review=f"{path}: check that `{code_of(parsed.module, reference)}` is the "
            "reference sample; alert thresholds tuned on equal-width bins need re-tuning",
            where=slug(path, function.name.value),
            finding=finding,
        )


def _numpy_alias(module: cst.Module) -> str:
    """The name numpy is imported under (`import numpy as np`); refused when it is not."""
    for stmt in module.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if isinstance(small, cst.Import):
                for alias in small.names:
                    if code_of(module, alias.name) == "numpy":
                        if alias.asname is None:
                            return "numpy"
                        target = alias.asname.name
                        if isinstance(target, cst.Name):
                            return target.value
    raise Refused("numpy is not imported as a module (`import numpy as np`) in this file")


def _arg(call: cst.Call, position: int, keyword: str) -> cst.BaseExpression | None:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == keyword:
            return arg.value
    positional = [a for a in call.args if a.keyword is None and not a.star]
    return positional[position].value if len(positional) > position else None


def _reference_of(low: cst.BaseExpression | None, parsed: Parsed) -> cst.BaseExpression | None:
    """`ref` in `ref.min()`, `np.min(ref)`, `np.nanmin(ref)`, `min(ref)`."""
    if not isinstance(low, cst.Call):
        return None
    func = low.func
    if isinstance(func, cst.Attribute) and func.attr.value in ("min", "nanmin") and not low.args:
        return func.value
    name = (dotted(func) or "").rsplit(".", 1)[-1]
    if name in ("min", "nanmin", "amin") and len(low.args) == 1:
        value = low.args[0].value
        if isinstance(value, cst.Name | cst.Attribute):
            return value
    return None


def _reference_param(function: cst.FunctionDef) -> cst.Name:
    params = [*function.params.posonly_params, *function.params.params]
    names = [p.name.value for p in params if p.name.value not in ("self", "cls")]
    if not names:
        raise Refused("cannot tell which argument of the PSI function is the reference")
    named = [n for n in names if _REFERENCE_NAME.search(n)]
    return cst.Name(named[0] if named else names[0])


def _plus_one(bins: cst.BaseExpression | None, name: str) -> cst.BaseExpression:
    """`n + 1` edges for `n` bins; refused when `bins` is not a count."""
    if bins is None:
        return cst.Integer(str(_DEFAULT_BINS.get(name, 10) + 1))
    if isinstance(bins, cst.Integer):
        return cst.Integer(str(int(bins.value) + 1))
    if isinstance(bins, cst.Name):
        return cst.BinaryOperation(left=bins, operator=cst.Add(), right=cst.Integer("1"))
    raise Refused("the bins argument is not a bin count this fix can read")


def _helper_call(reference: cst.BaseExpression, count: cst.BaseExpression) -> cst.Call:
    return cst.Call(
        func=cst.Name(HELPER),
        args=[
            cst.Arg(reference, comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))),
            cst.Arg(count),
        ],
    )


def _with_bins(
    call: cst.Call, bins: cst.BaseExpression | None, edges: cst.Call
) -> cst.BaseExpression:
    if bins is None:
        return with_arg(call, cst.Arg(edges, keyword=cst.Name("bins"), equal=_EQUAL))
    args = [arg.with_changes(value=edges) if arg.value is bins else arg for arg in call.args]
    return call.with_changes(args=args)


_EQUAL = cst.AssignEqual(
    whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")
)


def _with_helper(module: cst.Module, numpy: str) -> cst.Module:
    """`module` with the helper defined after its imports (once: a second fix in the file
    reuses it)."""
    if any(isinstance(s, cst.FunctionDef) and s.name.value == HELPER for s in module.body):
        return module
    helper = cst.parse_statement(_HELPER_TEXT.format(helper=HELPER, np=numpy))
    helper = helper.with_changes(leading_lines=[cst.EmptyLine(), cst.EmptyLine()])
    return after_imports(module, [helper])


FIXER = QuantileBins()
