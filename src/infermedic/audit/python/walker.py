"""The single walk over each Python file: it builds the file's part of the index and records
the nodes the selected rules asked for, each with its function and context flags."""

from __future__ import annotations

import ast
import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from infermedic.audit.python import known_calls as kc
from infermedic.audit.python.context import FileContext, dotted


class Flag:
    """Where a node sits, as far as serving is concerned: bits of a plain `int`.

    Plain ints, not `enum.IntFlag`: flag arithmetic runs for every node of every file, and
    `IntFlag` operators cost a Python-level call each (measured: a third of walk time).
    """

    NONE: Final = 0
    OFF_LOOP: Final = 1  # inside the callable handed to a thread pool: not on the event loop
    OFF_PATH: Final = 2  # fire-and-forget: the response does not wait for it
    NO_GRAD: Final = 4  # inside `with torch.no_grad()` / `inference_mode()`
    GUARDED: Final = 8  # inside a `try` body that has an `except`
    AWAITED: Final = 16  # the node is the operand of `await`
    ONCE: Final = 32  # inside a lazy-initialisation guard (`if model is None:`)
    BACKGROUND: Final = 64  # handed to `background_tasks.add_task`: thread if sync, loop if async
    DEPENDENCY: Final = 128  # a FastAPI `Depends(...)` target: thread if sync, loop if async
    CONDITIONAL: Final = 256  # inside an `if` (other than `if __name__ == "__main__"`)
    MAIN: Final = 512  # inside `if __name__ == "__main__":` (runs only as a script)


class BindingKind(enum.Enum):
    MODEL = "model"
    SYNC_CLIENT = "sync-client"
    APP = "app"
    EXPLAINER = "explainer"
    INSTANCE = "instance"  # an instance of a class defined in the repo
    CALL = "call"  # the result of a call not yet resolved (a repo class or factory)


@dataclass(frozen=True, slots=True)
class Binding:
    """What a name holds: `kind` plus where it came from (loader, class or framework)."""

    kind: BindingKind
    origin: str
    line: int


@dataclass(frozen=True, slots=True)
class CallSite:
    """A call (or a callable handed to a delegation call) made inside a function."""

    node: ast.AST
    target: ast.expr  # the expression naming what is called
    flags: int


@dataclass(eq=False)
class ClassInfo:
    qualname: str
    name: str
    module: ModuleInfo
    node: ast.ClassDef
    bases: list[str]
    methods: dict[str, FunctionInfo] = field(default_factory=dict)
    attrs: dict[str, Binding] = field(default_factory=dict)


@dataclass(eq=False)
class FunctionInfo:
    qualname: str
    name: str
    node: ast.FunctionDef | ast.AsyncFunctionDef
    module: ModuleInfo
    cls: ClassInfo | None
    parent: FunctionInfo | None
    is_async: bool
    decorators: list[str] = field(default_factory=list)
    locals: dict[str, Binding] = field(default_factory=dict)
    globals: set[str] = field(default_factory=set)
    nested: dict[str, FunctionInfo] = field(default_factory=dict)
    calls: list[CallSite] = field(default_factory=list)
    returns: list[ast.expr] = field(default_factory=list)

    @property
    def cached(self) -> bool:
        """`@lru_cache`/`@cache`: the body runs once per argument set, not per request."""
        return any(
            d.rsplit(".", 1)[-1] in {"lru_cache", "cache", "cached"} for d in self.decorators
        )


@dataclass(eq=False)
class ModuleInfo:
    ctx: FileContext
    functions: dict[str, FunctionInfo] = field(default_factory=dict)
    classes: dict[str, ClassInfo] = field(default_factory=dict)
    bindings: dict[str, Binding] = field(default_factory=dict)
    all_functions: list[FunctionInfo] = field(default_factory=list)
    all_classes: list[ClassInfo] = field(default_factory=list)
    state_attrs: dict[str, Binding] = field(default_factory=dict)  # `app.state.<name>`
    registrations: list[tuple[ast.Call, FunctionInfo | None]] = field(default_factory=list)
    events: list[tuple[ast.AST, FunctionInfo | None, int]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.ctx.module


# Fields that never hold nodes worth visiting (names, literals, and the Load/Store contexts).
_LEAF_FIELDS = frozenset(
    {
        "ctx",
        "id",
        "attr",
        "arg",
        "name",
        "names",
        "module",
        "level",
        "kind",
        "type_comment",
        "is_async",
        "conversion",
        "n",
        "s",
    }
)
_CHILD_FIELDS: dict[type[ast.AST], tuple[str, ...]] = {}
STATE_PREFIX = "@state."  # a binding that names an `app.state`/`request.state` attribute
REGISTRATION_METHODS = frozenset({"add_api_route", "add_url_rule", "add_resource", "add_route"})
_MODEL_CHAIN_METHODS = frozenset({"eval", "to", "cuda", "cpu", "half", "float", "double"})


class Walker:
    """Walks one module once. `wanted` holds the node types rules asked to see."""

    def __init__(self, ctx: FileContext, wanted: frozenset[type[ast.AST]]) -> None:
        self.ctx = ctx
        self.module = ModuleInfo(ctx=ctx)
        self.wanted = wanted
        self.class_stack: list[ClassInfo | None] = [None]

    def run(self) -> ModuleInfo:
        for statement in self.ctx.tree.body:
            self.visit(statement, None, Flag.NONE)
        return self.module

    # -- traversal ---------------------------------------------------------------------
    def visit(self, node: ast.AST, func: FunctionInfo | None, flags: int) -> None:
        kind = type(node)
        if kind in self.wanted:
            self.module.events.append((node, func, flags))
        handler = _HANDLERS.get(kind)
        if handler is not None:
            handler(self, node, func, flags)
            return
        inner = flags & ~Flag.AWAITED
        fields = _CHILD_FIELDS.get(kind)
        if fields is None:
            fields = _CHILD_FIELDS[kind] = tuple(f for f in node._fields if f not in _LEAF_FIELDS)
        for name in fields:
            value = getattr(node, name, None)
            if type(value) is list:
                for item in value:
                    if isinstance(item, ast.AST):
                        self.visit(item, func, inner)
            elif isinstance(value, ast.AST):
                self.visit(value, func, inner)

    def visit_all(
        self,
        nodes: Sequence[ast.AST],
        func: FunctionInfo | None,
        flags: int,
    ) -> None:
        for child in nodes:
            self.visit(child, func, flags)

    def _import(self, node: ast.AST, func: FunctionInfo | None, flags: int) -> None:
        assert isinstance(node, ast.Import | ast.ImportFrom)
        self.ctx.add_import(node)

    def _function(self, node: ast.AST, func: FunctionInfo | None, flags: int) -> None:
        assert isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        cls = self.class_stack[-1]
        if func is not None and cls is None:
            qualname = f"{func.qualname}.<locals>.{node.name}"
        elif cls is not None:
            qualname = f"{cls.qualname}.{node.name}"
        else:
            qualname = f"{self.module.name}.{node.name}"
        info = FunctionInfo(
            qualname=qualname,
            name=node.name,
            node=node,
            module=self.module,
            cls=cls,
            parent=func,
            is_async=isinstance(node, ast.AsyncFunctionDef),
            decorators=[
                self._name_of(d.func if isinstance(d, ast.Call) else d) for d in node.decorator_list
            ],
        )
        self.module.all_functions.append(info)
        if cls is not None:
            cls.methods[node.name] = info
        elif func is not None:
            func.nested[node.name] = info
        else:
            self.module.functions[node.name] = info
        outer = flags & ~Flag.AWAITED
        self.visit_all(node.decorator_list, func, outer)
        self.visit(node.args, func, outer)
        if node.returns is not None:
            self.visit(node.returns, func, outer)
        self._dependencies(node.args, info)
        self._parameter_bindings(node.args, info)
        self.class_stack.append(None)
        self.visit_all(node.body, info, Flag.NONE)
        self.class_stack.pop()

    def _dependencies(self, args: ast.arguments, info: FunctionInfo) -> None:
        """FastAPI runs `Depends(f)` targets per request: record them as calls."""
        annotations = [a.annotation for a in (*args.args, *args.kwonlyargs) if a.annotation]
        for expr in [*args.defaults, *args.kw_defaults, *annotations]:
            if expr is None:
                continue
            for sub in ast.walk(expr):
                if (
                    isinstance(sub, ast.Call)
                    and dotted(sub.func).rsplit(".", 1)[-1] in {"Depends", "Security"}
                    and sub.args
                ):
                    info.calls.append(CallSite(node=sub, target=sub.args[0], flags=Flag.DEPENDENCY))

    def _parameter_bindings(self, args: ast.arguments, info: FunctionInfo) -> None:
        """What a parameter holds, where its declaration says: `svc = Depends(get_service)`
        holds what `get_service` returns, `svc: Annotated[Svc, Depends()]` and `svc: Svc`
        an instance of `Svc` (resolved later, against the repo's classes)."""
        positional = [*args.posonlyargs, *args.args]
        defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults))
        pairs = [
            *zip(positional, [*defaults, *args.defaults], strict=True),
            *zip(args.kwonlyargs, args.kw_defaults, strict=True),
        ]
        for arg, default in pairs:
            if arg.arg in {"self", "cls"}:
                continue
            annotation = arg.annotation
            metadata: list[ast.expr] = [default] if default is not None else []
            if isinstance(annotation, ast.Subscript) and dotted(annotation.value).endswith(
                "Annotated"
            ):
                inner = annotation.slice
                elements = inner.elts if isinstance(inner, ast.Tuple) else [inner]
                annotation, metadata = elements[0], [*metadata, *elements[1:]]
            origin: str | None = None
            for meta in metadata:
                if isinstance(meta, ast.Call) and dotted(meta.func).rsplit(".", 1)[-1] in {
                    "Depends",
                    "Security",
                }:
                    if meta.args and isinstance(meta.args[0], ast.Name | ast.Attribute):
                        origin = self._name_of(meta.args[0])
                    elif not meta.args and isinstance(annotation, ast.Name | ast.Attribute):
                        origin = self._name_of(annotation)
            if origin is None and isinstance(annotation, ast.Name | ast.Attribute):
                origin = self._name_of(annotation)  # only a repo class resolves to anything
                if origin in kc.SYNC_CLIENT_CONSTRUCTORS:  # `db: Session`, `r: redis.Redis`
                    info.locals[arg.arg] = Binding(
                        kind=BindingKind.SYNC_CLIENT, origin=origin, line=arg.lineno
                    )
                    continue
            if origin is not None:
                info.locals[arg.arg] = Binding(
                    kind=BindingKind.CALL, origin=origin, line=arg.lineno
                )

    def _yield(self, node: ast.AST, func: FunctionInfo | None, flags: int) -> None:
        """A lifespan that yields `{"model": ...}` hands it to `request.state.model`."""
        assert isinstance(node, ast.Yield)
        if node.value is None:
            return
        self.visit(node.value, func, flags & ~Flag.AWAITED)
        if func is not None:
            func.returns.append(node.value)  # a yield dependency injects what it yields
        if func is not None and isinstance(node.value, ast.Dict):
            for key, value in zip(node.value.keys, node.value.values, strict=True):
                if isinstance(key, ast.Constant) and isinstance(key.value, str):
                    binding = classify_value(value, func, self.module)
                    if binding is not None:
                        self.module.state_attrs[key.value] = binding

    def _class(self, node: ast.AST, func: FunctionInfo | None, flags: int) -> None:
        assert isinstance(node, ast.ClassDef)
        outer = self.class_stack[-1]
        prefix = (
            outer.qualname if outer else (func.qualname + ".<locals>" if func else self.module.name)
        )
        info = ClassInfo(
            qualname=f"{prefix}.{node.name}",
            name=node.name,
            module=self.module,
            node=node,
            bases=[self._name_of(b) for b in node.bases],
        )
        self.module.all_classes.append(info)
        if outer is None and func is None:
            self.module.classes[node.name] = info
        self.visit_all(node.decorator_list, func, Flag.NONE)
        self.visit_all(node.bases, func, Flag.NONE)
        self.class_stack.append(info)
        self.visit_all(node.body, func, Flag.NONE)
        self.class_stack.pop()

    def _await(self, node: ast.AST, func: FunctionInfo | None, flags: int) -> None:
        assert isinstance(node, ast.Await)
        self.visit(node.value, func, (flags & ~Flag.AWAITED) | Flag.AWAITED)

    def _with(self, node: ast.AST, func: FunctionInfo | None, flags: int) -> None:
        assert isinstance(node, ast.With | ast.AsyncWith)
        outer = flags & ~Flag.AWAITED
        body_flags = outer
        for item in node.items:
            self.visit(item, func, outer)
            expr = item.context_expr
            if item.optional_vars is not None and isinstance(node, ast.With):
                # `with engine.connect() as conn:` holds what the context manager opens
                binding = classify_value(expr, func, self.module)
                if binding is not None:
                    self._bind(item.optional_vars, binding, func)
            target = expr.func if isinstance(expr, ast.Call) else expr
            if self.ctx.qualified_name(target) in kc.NO_GRAD_CONTEXTS:
                body_flags |= Flag.NO_GRAD
        self.visit_all(node.body, func, body_flags)

    def _try(self, node: ast.AST, func: FunctionInfo | None, flags: int) -> None:
        assert isinstance(node, ast.Try | ast.TryStar)
        outer = flags & ~Flag.AWAITED
        self.visit_all(node.body, func, outer | Flag.GUARDED if node.handlers else outer)
        self.visit_all(node.handlers, func, outer)
        self.visit_all(node.orelse, func, outer)
        self.visit_all(node.finalbody, func, outer)

    def _if(self, node: ast.AST, func: FunctionInfo | None, flags: int) -> None:
        assert isinstance(node, ast.If)
        outer = flags & ~Flag.AWAITED
        self.visit(node.test, func, outer)
        branch = outer | Flag.MAIN if _is_main_guard(node.test) else outer | Flag.CONDITIONAL
        self.visit_all(node.body, func, branch | Flag.ONCE if _is_lazy_guard(node.test) else branch)
        self.visit_all(node.orelse, func, branch)

    def _global(self, node: ast.AST, func: FunctionInfo | None, flags: int) -> None:
        assert isinstance(node, ast.Global | ast.Nonlocal)
        if func is not None:
            func.globals.update(node.names)

    def _return(self, node: ast.AST, func: FunctionInfo | None, flags: int) -> None:
        assert isinstance(node, ast.Return)
        if node.value is not None:
            if func is not None:
                func.returns.append(node.value)
            self.visit(node.value, func, flags & ~Flag.AWAITED)

    def _assign(self, node: ast.AST, func: FunctionInfo | None, flags: int) -> None:
        assert isinstance(node, ast.Assign | ast.AnnAssign)
        outer = flags & ~Flag.AWAITED
        if node.value is not None:
            self.visit(node.value, func, outer)
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        self.visit_all(targets, func, outer)
        if node.value is None:
            return
        binding = classify_value(node.value, func, self.module)
        if binding is None and isinstance(node, ast.AnnAssign):
            # `model: HousePriceModel = request.app.state.model`: the annotation says it
            annotation = node.annotation
            if isinstance(annotation, ast.Name | ast.Attribute):
                binding = Binding(
                    kind=BindingKind.CALL, origin=self._name_of(annotation), line=node.lineno
                )
        if binding is None:
            return
        for target in targets:
            self._bind(target, binding, func)

    def _bind(self, target: ast.expr, binding: Binding, func: FunctionInfo | None) -> None:
        if isinstance(target, ast.Subscript):  # `models["clf"] = joblib.load(...)`
            target = target.value
            if isinstance(target, ast.Name) and func is not None and target.id not in func.locals:
                self.module.bindings[target.id] = binding
                return
        if isinstance(target, ast.Name):
            if func is None or target.id in func.globals:
                self.module.bindings[target.id] = binding
            else:
                func.locals[target.id] = binding
        elif isinstance(target, ast.Attribute):
            base = target.value
            if isinstance(base, ast.Name) and base.id in {"self", "cls"} and func and func.cls:
                func.cls.attrs[target.attr] = binding
            elif dotted(base).endswith("state"):
                self.module.state_attrs[target.attr] = binding

    def _call(self, node: ast.AST, func: FunctionInfo | None, flags: int) -> None:
        assert isinstance(node, ast.Call)
        outer = flags & ~Flag.AWAITED
        callee = node.func
        qualified = self.ctx.qualified_name(callee)
        method = callee.attr if isinstance(callee, ast.Attribute) else None
        delegated_index: int | None = None
        delegated_flags: int = Flag.NONE
        if qualified in kc.THREAD_DELEGATION:
            delegated_index = kc.THREAD_DELEGATION[qualified]
            delegated_flags = (
                Flag.OFF_LOOP if flags & Flag.AWAITED else Flag.OFF_LOOP | Flag.OFF_PATH
            )
        elif method == "run_in_executor":
            delegated_index = 1
            delegated_flags = (
                Flag.OFF_LOOP if flags & Flag.AWAITED else Flag.OFF_LOOP | Flag.OFF_PATH
            )
        elif method in {"submit", "apply_async"} and node.args:
            delegated_index = 0
            delegated_flags = Flag.OFF_LOOP | Flag.OFF_PATH
        elif method == "add_task" and node.args:
            delegated_index = 0
            delegated_flags = Flag.BACKGROUND | Flag.OFF_PATH
        elif qualified in kc.TASK_SPAWNERS or method in {"create_task", "ensure_future"}:
            delegated_index = 0
            delegated_flags = Flag.OFF_PATH
        elif qualified == "threading.Thread":
            target = next((k.value for k in node.keywords if k.arg == "target"), None)
            if target is not None and func is not None:
                func.calls.append(
                    CallSite(node=node, target=target, flags=outer | Flag.OFF_LOOP | Flag.OFF_PATH)
                )
        if (
            method in REGISTRATION_METHODS
            or method in kc.AIOHTTP_ADD_METHODS
            or (qualified or "").endswith("routing.Route")
            or qualified in kc.AIOHTTP_ROUTE_FUNCTIONS
        ):
            self.module.registrations.append((node, func))
        self.visit(callee, func, outer)
        for index, arg in enumerate(node.args):
            if index == delegated_index:
                inner = outer | delegated_flags
                self.visit(arg, func, inner)
                target = _callable_target(arg)
                if target is not None and func is not None:
                    func.calls.append(CallSite(node=node, target=target, flags=inner))
            else:
                self.visit(arg, func, outer)
        for kw in node.keywords:
            self.visit(kw.value, func, outer)
        if func is not None and delegated_index is None:
            func.calls.append(CallSite(node=node, target=callee, flags=flags))

    # -- naming and classification ------------------------------------------------------
    def _name_of(self, expr: ast.expr) -> str:
        qualified = self.ctx.qualified_name(expr)
        if qualified is not None:
            return qualified
        text = dotted(expr)
        return f"{self.module.name}.{text}" if isinstance(expr, ast.Name) else text


def classify_value(
    value: ast.expr, func: FunctionInfo | None, module: ModuleInfo
) -> Binding | None:
    """What an assigned value holds, as far as the walk can tell without other files."""
    line = getattr(value, "lineno", 0)
    if isinstance(value, ast.Await):
        return None
    if isinstance(value, ast.IfExp):
        return classify_value(value.body, func, module) or classify_value(
            value.orelse, func, module
        )
    if isinstance(value, ast.Dict):
        found = (classify_value(v, func, module) for v in value.values if v is not None)
        return next((b for b in found if b and b.kind is BindingKind.MODEL), None)
    if isinstance(value, ast.Name):
        if func is not None and value.id in func.locals:
            return func.locals[value.id]
        return module.bindings.get(value.id)
    if isinstance(value, ast.Attribute):
        base = value.value
        if isinstance(base, ast.Name) and base.id == "self" and func and func.cls:
            return func.cls.attrs.get(value.attr)
        if dotted(base).endswith("state"):
            # `model = request.app.state.model`: set elsewhere; the index resolves it
            return Binding(kind=BindingKind.CALL, origin=f"{STATE_PREFIX}{value.attr}", line=line)
        return None
    if not isinstance(value, ast.Call):
        return None
    qualified = module.ctx.qualified_name(value.func)
    if qualified is not None:
        if kc.is_model_loader(qualified) or kc.is_estimator_class(qualified):
            return Binding(kind=BindingKind.MODEL, origin=qualified, line=line)
        if qualified in kc.SYNC_CLIENT_CONSTRUCTORS:
            return Binding(kind=BindingKind.SYNC_CLIENT, origin=qualified, line=line)
        if qualified in kc.APP_CONSTRUCTORS:
            return Binding(kind=BindingKind.APP, origin=kc.APP_CONSTRUCTORS[qualified], line=line)
        if kc.is_explainer(qualified):
            return Binding(kind=BindingKind.EXPLAINER, origin=qualified, line=line)
        return Binding(kind=BindingKind.CALL, origin=qualified, line=line)
    callee = value.func
    if isinstance(callee, ast.Attribute):
        if callee.attr.endswith("from_pretrained") or callee.attr == "load_model":
            return Binding(kind=BindingKind.MODEL, origin=dotted(callee), line=line)
        receiver = classify_value(callee.value, func, module)
        if (
            receiver is not None
            and receiver.kind is BindingKind.SYNC_CLIENT
            and callee.attr in kc.SYNC_CLIENT_HANDLES
        ):
            return receiver
        if (
            receiver is not None
            and receiver.kind is BindingKind.MODEL
            and callee.attr in _MODEL_CHAIN_METHODS
        ):
            return receiver
        owner = callee.value
        if isinstance(owner, ast.Name) and owner.id in {"self", "cls"} and func and func.cls:
            # `self.model = self._load()`: what the method returns, resolved by the index
            return Binding(
                kind=BindingKind.CALL, origin=f"{func.cls.qualname}.{callee.attr}", line=line
            )
        return None
    if isinstance(callee, ast.Name):
        return Binding(kind=BindingKind.CALL, origin=f"{module.name}.{callee.id}", line=line)
    return None


def _callable_target(arg: ast.expr) -> ast.expr | None:
    """The function a delegation call runs: `f`, `obj.method`, `partial(f, x)`, `f()` (a task)."""
    if isinstance(arg, ast.Name | ast.Attribute):
        return arg
    if isinstance(arg, ast.Call):
        if dotted(arg.func).endswith("partial") and arg.args:
            return _callable_target(arg.args[0])
        return arg.func  # `create_task(coro())`: the coroutine function
    return None


def _is_main_guard(test: ast.expr) -> bool:
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
    )


def _is_lazy_guard(test: ast.expr) -> bool:
    """`if model is None`, `if not model`, `if key not in cache`: the body runs once."""
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        return isinstance(test.operand, ast.Name | ast.Attribute | ast.Subscript)
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        op, right = test.ops[0], test.comparators[0]
        if isinstance(op, ast.Is) and isinstance(right, ast.Constant) and right.value is None:
            return True
        return isinstance(op, ast.NotIn)
    if isinstance(test, ast.BoolOp):
        return any(_is_lazy_guard(v) for v in test.values)
    return False


_HANDLERS = {
    ast.Import: Walker._import,
    ast.ImportFrom: Walker._import,
    ast.FunctionDef: Walker._function,
    ast.AsyncFunctionDef: Walker._function,
    ast.ClassDef: Walker._class,
    ast.Await: Walker._await,
    ast.With: Walker._with,
    ast.AsyncWith: Walker._with,
    ast.Try: Walker._try,
    ast.TryStar: Walker._try,
    ast.If: Walker._if,
    ast.Global: Walker._global,
    ast.Nonlocal: Walker._global,
    ast.Return: Walker._return,
    ast.Yield: Walker._yield,
    ast.Assign: Walker._assign,
    ast.AnnAssign: Walker._assign,
    ast.Call: Walker._call,
}
