"""Routes declared by a class rather than a decorator: gRPC servicers and Tornado handlers.

Kept apart from the index: each returns (method, verb, path) and the index makes the routes.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from infermedic.audit.python import known_calls as kc
from infermedic.audit.python.walker import ClassInfo, FunctionInfo

if TYPE_CHECKING:
    from infermedic.audit.python.index import PythonIndex


def grpc_methods(cls: ClassInfo) -> list[tuple[FunctionInfo, str, str]]:
    """A gRPC servicer (a subclass of a generated `*_pb2_grpc.XServicer`): each method
    taking `(self, request, context)` is an RPC; under `grpc.aio` an `async def` one runs
    on the server's event loop."""
    found = []
    for name, method in cls.methods.items():
        args = [a.arg for a in method.node.args.args]
        if name.startswith("_") or len(args) != 3 or args[0] != "self":
            continue
        found.append((method, "RPC", f"/{cls.name}/{name}"))
    return found


def tornado_methods(cls: ClassInfo, paths: dict[str, str]) -> list[tuple[FunctionInfo, str, str]]:
    """A Tornado `RequestHandler`: each HTTP method it defines, at the URL pattern an
    `Application([...])` or `url(...)` maps to it (else `<ClassName>`)."""
    path = paths.get(cls.qualname, f"<{cls.name}>")
    return [
        (method, verb, path)
        for name, verb in kc.TORNADO_HANDLER_METHODS.items()
        if (method := cls.methods.get(name)) is not None
    ]


def tornado_paths(index: PythonIndex) -> dict[str, str]:
    """Handler class qualname → URL pattern, from `Application([(r"/p", Handler), ...])`,
    `url(r"/p", Handler)` and `add_handlers(host, [...])` anywhere in the repo."""
    found: dict[str, str] = {}
    for module in index.modules.values():
        for node in ast.walk(module.ctx.tree):
            if not isinstance(node, ast.Call):
                continue
            qualified = module.ctx.qualified_name(node.func)
            specs: list[ast.expr] = []
            if qualified in kc.TORNADO_URL_CALLS or (
                isinstance(node.func, ast.Attribute) and node.func.attr == "add_handlers"
            ):
                for arg in node.args:
                    specs += arg.elts if isinstance(arg, ast.List | ast.Tuple) else []
                if qualified is not None and qualified.endswith(("url", "URLSpec")):
                    specs = [ast.Tuple(elts=list(node.args), ctx=ast.Load())]
            for spec in specs:
                parts = spec.elts if isinstance(spec, ast.Tuple | ast.List) else []
                if isinstance(spec, ast.Call):
                    parts = list(spec.args)  # `url(r"/p", Handler)` inside the list
                if len(parts) < 2 or not isinstance(parts[0], ast.Constant):
                    continue
                handler = index.class_called(parts[1], None, module)
                if handler is not None and isinstance(parts[0].value, str):
                    found.setdefault(handler.qualname, parts[0].value)
    return found


def grpc_servicer(base: str) -> bool:
    """`predict_pb2_grpc.PredictorServicer`: the base class protoc generates for a service."""
    module, _, name = base.rpartition(".")
    return name.endswith("Servicer") and module.rsplit(".", 1)[-1].endswith("_pb2_grpc")
