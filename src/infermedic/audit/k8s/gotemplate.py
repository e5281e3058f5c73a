"""A small, line-keeping reader of Go templates as Helm charts write them.

Not a Go template engine: it evaluates what chart templates mostly do with their values
(`.Values` lookups, `default`, `quote`, `toYaml | nindent`, `if`/`with`/`range`, `include`
of a `define`) so the probes and autoscaler metrics a chart renders can be read when `helm`
is not installed. Anything it cannot evaluate (`.Capabilities`, `lookup`, `tpl`, functions
it does not know) is `UNKNOWN`: a block of it renders as nothing, a scalar as a placeholder
word, and an unknown condition takes its first branch. Each use is counted in `unknown`.

Every output line keeps the template line it came from (`Rendered.source_lines`), so a
finding in the rendered YAML points at the template line a reader edits.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

PLACEHOLDER = "infermedic-unknown"
_MAX_DEPTH = 12  # nested includes and ranges; deeper is a loop, given up as unknown
_MAX_OUTPUT = 2_000_000  # characters one template may expand to (a range over a huge list)


class _Unknown:
    """A value the reader could not evaluate."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()


class TemplateError(Exception):
    """The template's syntax is not what this reader understands."""


# -- lexing -------------------------------------------------------------------------------
_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.DOTALL)
_COMMENT = re.compile(r"^\s*/\*.*\*/\s*$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class _Text:
    text: str
    line: int  # the 1-based template line the text starts on


@dataclass(frozen=True, slots=True)
class _Action:
    body: str
    line: int


def _lex(source: str) -> list[_Text | _Action]:
    """Text and actions, with `{{-` / `-}}` trimming applied to the neighbouring text."""
    tokens: list[_Text | _Action] = []
    position, line, trim_next = 0, 1, False
    for match in _ACTION.finditer(source):
        text = source[position : match.start()]
        start_line = line
        line += text.count("\n")
        if trim_next:
            stripped = text.lstrip()
            start_line += text[: len(text) - len(stripped)].count("\n")
            text = stripped
        if match.group(1):
            text = text.rstrip()
        if text:
            tokens.append(_Text(text, start_line))
        body = match.group(2).strip()
        if not _COMMENT.match(body):
            tokens.append(_Action(body, line))
        line += match.group(0).count("\n")
        trim_next = bool(match.group(3))
        position = match.end()
    text = source[position:]
    if trim_next:
        stripped = text.lstrip()
        line += text[: len(text) - len(stripped)].count("\n")
        text = stripped
    if text:
        tokens.append(_Text(text, line))
    return tokens


# -- parsing into a tree ------------------------------------------------------------------
@dataclass(slots=True)
class _Block:
    keyword: str  # if | with | range | define
    branches: list[tuple[str | None, list[Any]]] = field(default_factory=list)  # (expr, body)
    line: int = 0


_CONTROL = re.compile(r"^(if|with|range|define|block|else|end|template)\b\s*(.*)$", re.DOTALL)


def _parse(tokens: list[_Text | _Action]) -> tuple[list[Any], dict[str, list[Any]]]:
    """The tree of a template, and the `define`d templates it holds."""
    root: list[Any] = []
    stack: list[_Block] = []
    defines: dict[str, list[Any]] = {}

    def body() -> list[Any]:
        return stack[-1].branches[-1][1] if stack else root

    for token in tokens:
        if isinstance(token, _Text):
            body().append(token)
            continue
        control = _CONTROL.match(token.body)
        if control is None:
            body().append(token)
            continue
        keyword, rest = control.group(1), control.group(2).strip()
        if keyword in {"if", "with", "range", "define", "block"}:
            block = _Block(keyword="define" if keyword == "block" else keyword, line=token.line)
            block.branches.append((rest, []))
            if keyword == "block":  # `block "name" .` defines and calls at once
                body().append(_Action(f"include {rest}", token.line))
            elif keyword != "define":
                body().append(block)
            stack.append(block)
        elif keyword == "else":
            if not stack:
                raise TemplateError(f"line {token.line}: `else` outside a block")
            stack[-1].branches.append((rest or None, []))
        elif keyword == "end":
            if not stack:
                raise TemplateError(f"line {token.line}: `end` outside a block")
            block = stack.pop()
            if block.keyword == "define":
                name = _string_literal(block.branches[0][0] or "")
                if name is not None:
                    defines[name] = block.branches[0][1]
        else:  # template "name" pipeline
            body().append(_Action(f"include {rest}", token.line))
    if stack:
        raise TemplateError(f"line {stack[-1].line}: `{stack[-1].keyword}` is never closed")
    return root, defines


def _string_literal(text: str) -> str | None:
    match = re.match(r'^\s*"((?:[^"\\]|\\.)*)"', text)
    return match.group(1) if match else None


# -- expressions --------------------------------------------------------------------------
_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>"(?:[^"\\]|\\.)*"|`[^`]*`)
    | (?P<number>-?\d+(?:\.\d+)?)
    | (?P<assign>:=|=)
    | (?P<punct>[|(),])
    | (?P<field>(?:\$[A-Za-z_]\w*|\$)?(?:\.[A-Za-z_]\w*)+|\.|\$[A-Za-z_]\w*|\$)
    | (?P<word>[A-Za-z_][\w.]*)
    )""",
    re.VERBOSE,
)


def _tokens(expr: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    position = 0
    expr = expr.strip()
    while position < len(expr):
        match = _TOKEN.match(expr, position)
        if match is None or match.end() == position:
            raise TemplateError(f"cannot read `{expr[position : position + 20]}`")
        kind = match.lastgroup or ""
        found.append((kind, match.group(kind)))
        position = match.end()
    return found


@dataclass
class _Scope:
    dot: Any
    root: Any
    variables: dict[str, Any]


class Renderer:
    """Renders templates of one chart against its values and `define`d helpers."""

    def __init__(self, context: Mapping[str, Any], helpers: Mapping[str, list[Any]]) -> None:
        self.context = context
        self.helpers: dict[str, list[Any]] = dict(helpers)
        self.unknown: list[str] = []  # what could not be evaluated, as written
        self.dropped: list[int] = []  # template lines where a block was left out

    # .. public ..............................................................................
    @staticmethod
    def parse(source: str) -> tuple[list[Any], dict[str, list[Any]]]:
        return _parse(_lex(source))

    def render(self, tree: list[Any]) -> Rendered:
        out = _Output()
        scope = _Scope(dot=self.context, root=self.context, variables={"$": self.context})
        self.dropped = []
        self._nodes(tree, scope, out, depth=0, line=None)
        return out.finish(tuple(sorted(set(self.dropped))))

    # .. nodes ...............................................................................
    def _nodes(
        self, nodes: list[Any], scope: _Scope, out: _Output, depth: int, line: int | None
    ) -> None:
        for node in nodes:
            if len(out.chars) > _MAX_OUTPUT:
                raise TemplateError("the template expands to more than it is worth reading")
            if isinstance(node, _Text):
                out.write(node.text, line if line is not None else node.line, follow=line is None)
            elif isinstance(node, _Action):
                at = line if line is not None else node.line
                out.write(self._action(node.body, scope, depth, at), at, follow=False)
            else:
                self._block(node, scope, out, depth, line)

    def _block(
        self, block: _Block, scope: _Scope, out: _Output, depth: int, line: int | None
    ) -> None:
        if depth > _MAX_DEPTH:
            self.unknown.append(f"{block.keyword} nested too deep")
            return
        for expr, body in block.branches:
            if expr is not None and expr.startswith("if ") and block.keyword != "range":
                keyword, expr = "if", expr[3:]  # `else if`
            elif expr is not None and expr.startswith("with "):
                keyword, expr = "with", expr[5:]
            else:
                keyword = block.keyword
            if expr is None:  # plain `else`
                self._nodes(body, scope, out, depth + 1, line)
                return
            if keyword == "range":
                if self._range(expr, body, scope, out, depth, line):
                    return
                continue
            value = self._pipeline(expr, scope)
            if value is UNKNOWN:
                self.unknown.append(f"{keyword} {expr}")
            if value is UNKNOWN or _truthy(value):
                inner = scope
                if keyword == "with":
                    inner = _Scope(dot=value, root=scope.root, variables=dict(scope.variables))
                self._nodes(body, inner, out, depth + 1, line)
                return

    def _range(
        self,
        expr: str,
        body: list[Any],
        scope: _Scope,
        out: _Output,
        depth: int,
        line: int | None,
    ) -> bool:
        names: list[str] = []
        declared = re.match(r"^(\$\w+)\s*(?:,\s*(\$\w+)\s*)?:=\s*(.*)$", expr, re.DOTALL)
        if declared:
            names = [n for n in declared.groups()[:2] if n]
            expr = declared.group(3)
        value = self._pipeline(expr, scope)
        if value is UNKNOWN:
            self.unknown.append(f"range {expr}")
            if line is None:
                self.dropped.append(_first_line(body))
            return True  # an unknown list renders nothing (no else either)
        if isinstance(value, Mapping):
            pairs = [(k, value[k]) for k in sorted(value, key=str)]
        elif isinstance(value, list | tuple):
            pairs = list(enumerate(value))
        elif isinstance(value, int) and not isinstance(value, bool):
            pairs = [(i, i) for i in range(min(value, 1000))]
        else:
            pairs = []
        for key, item in pairs:
            variables = dict(scope.variables)
            if len(names) == 1:
                variables[names[0]] = item
            elif len(names) == 2:
                variables[names[0]], variables[names[1]] = key, item
            self._nodes(body, _Scope(item, scope.root, variables), out, depth + 1, line)
        return bool(pairs)

    def _action(self, body: str, scope: _Scope, depth: int, line: int) -> str:
        assigned = re.match(r"^(\$\w+)\s*:?=\s*(.*)$", body, re.DOTALL)
        if assigned:
            scope.variables[assigned.group(1)] = self._pipeline(assigned.group(2), scope, depth)
            return ""
        value = self._pipeline(body, scope, depth)
        if value is UNKNOWN:
            self.unknown.append(body)
            # A block (toYaml, an include, anything indented) is left out; a scalar keeps a
            # placeholder so that `name: {{ ... }}` stays a mapping entry.
            if re.search(r"\b(n?indent|toYaml|include)\b", body):
                self.dropped.append(line)
                return ""
            return PLACEHOLDER
        return _text(value)

    # .. pipelines ...........................................................................
    def _pipeline(self, expr: str, scope: _Scope, depth: int = 0) -> Any:
        try:
            tokens = _tokens(expr)
        except TemplateError:
            return UNKNOWN
        value, rest = self._commands(tokens, scope, depth)
        return UNKNOWN if rest else value

    def _commands(
        self, tokens: list[tuple[str, str]], scope: _Scope, depth: int
    ) -> tuple[Any, list[tuple[str, str]]]:
        value: Any = None
        piped = False
        while tokens:
            command: list[Any] = []
            while tokens and tokens[0] not in {("punct", "|"), ("punct", ")")}:
                kind, text = tokens.pop(0)
                if (kind, text) == ("punct", "("):
                    inner, tokens = self._commands(tokens, scope, depth)
                    if not tokens or tokens[0] != ("punct", ")"):
                        return UNKNOWN, []
                    tokens.pop(0)
                    command.append(("value", inner))
                else:
                    command.append((kind, text))
            value = self._command(command, scope, depth, [value] if piped else [])
            if tokens and tokens[0] == ("punct", "|"):
                tokens.pop(0)
                piped = True
                continue
            break
        return value, tokens

    def _command(self, command: list[Any], scope: _Scope, depth: int, piped: list[Any]) -> Any:
        if not command:
            return UNKNOWN
        kind, head = command[0]
        if kind == "word" and head in _FUNCTIONS or head == "include":
            args = [self._term(k, t, scope) for k, t in command[1:]] + piped
            if head == "include":
                return self._include(args, depth)
            if any(a is UNKNOWN for a in args) and head not in _UNKNOWN_TOLERANT:
                return UNKNOWN
            try:
                return _FUNCTIONS[head](*args)
            except (TypeError, ValueError, KeyError, IndexError, AttributeError):
                return UNKNOWN
        if len(command) != 1 or piped:
            return UNKNOWN
        return self._term(kind, head, scope)

    def _term(self, kind: str, text: str, scope: _Scope) -> Any:
        if kind == "value":
            return text
        if kind == "string":
            if text.startswith("`"):
                return text[1:-1]
            try:
                return json.loads(text)
            except json.JSONDecodeError:
                return text[1:-1]
        if kind == "number":
            return float(text) if "." in text else int(text)
        if kind == "word":
            return {"true": True, "false": False, "nil": None}.get(text, UNKNOWN)
        if kind == "field":
            return self._field(text, scope)
        return UNKNOWN

    def _field(self, text: str, scope: _Scope) -> Any:
        if text == ".":
            return scope.dot
        head, _, rest = text.partition(".")
        if head.startswith("$"):
            value = scope.root if head == "$" else scope.variables.get(head, UNKNOWN)
        else:
            value = scope.dot
        for part in [p for p in rest.split(".") if p] if rest else []:
            if value is UNKNOWN or value is None:
                return value
            if value is self.context and part not in value:
                return UNKNOWN  # `.Capabilities`, `.Files`: nothing this reader knows
            value = value.get(part) if isinstance(value, Mapping) else UNKNOWN
        return value

    def _include(self, args: list[Any], depth: int) -> Any:
        if len(args) != 2 or not isinstance(args[0], str) or depth >= _MAX_DEPTH:
            return UNKNOWN
        tree = self.helpers.get(args[0])
        if tree is None:
            return UNKNOWN
        out = _Output()
        before = len(self.unknown)
        scope = _Scope(dot=args[1], root=self.context, variables={"$": args[1]})
        self._nodes(tree, scope, out, depth + 1, line=0)
        if len(self.unknown) > before:
            return UNKNOWN  # a helper that is only partly known is not guessed at
        return "".join(out.chars)


# -- values and functions -----------------------------------------------------------------
def _truthy(value: Any) -> bool:
    if value is None or value is False:
        return False
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value != 0
    if isinstance(value, str | list | tuple | Mapping):
        return len(value) > 0
    return True


def _text(value: Any) -> str:
    if value is None:
        return ""
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, Mapping):
        return "map[" + " ".join(f"{k}:{_text(v)}" for k, v in sorted(value.items())) + "]"
    if isinstance(value, list | tuple):
        return "[" + " ".join(_text(v) for v in value) + "]"
    return str(value)


def _to_yaml(value: Any) -> str:
    if value is None:
        return "null"
    dumped = yaml.safe_dump(value, default_flow_style=False, sort_keys=True, width=10_000)
    dumped = dumped.removesuffix("\n")
    return dumped.removesuffix("\n...")  # a bare scalar's document end marker


def _indent(width: Any, text: Any) -> str:
    pad = " " * int(width)
    return "\n".join(pad + line for line in _text(text).split("\n"))


def _default(fallback: Any, *given: Any) -> Any:
    value = given[0] if given else None
    if value is UNKNOWN:
        return UNKNOWN
    return value if _truthy(value) else fallback


def _and(*args: Any) -> Any:
    for arg in args:
        if arg is UNKNOWN or not _truthy(arg):
            return arg
    return args[-1] if args else UNKNOWN


def _or(*args: Any) -> Any:
    for arg in args:
        if arg is UNKNOWN or _truthy(arg):
            return arg
    return args[-1] if args else UNKNOWN


def _printf(fmt: Any, *args: Any) -> str:
    python = re.sub(r"%[vdsq]", "{}", str(fmt))
    return python.format(*(_text(a) for a in args))


def _trunc(length: Any, text: Any) -> str:
    length = int(length)
    return str(text)[:length] if length >= 0 else str(text)[length:]


def _coalesce(*args: Any) -> Any:
    for arg in args:
        if arg is UNKNOWN or _truthy(arg):
            return arg
    return None


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "default": _default,
    "quote": lambda *a: " ".join(f'"{_text(v)}"' for v in a),
    "squote": lambda *a: " ".join(f"'{_text(v)}'" for v in a),
    "toYaml": _to_yaml,
    "toJson": lambda v: json.dumps(v, sort_keys=True),
    "nindent": lambda n, s: "\n" + _indent(n, s),
    "indent": _indent,
    "required": lambda _message, value: value,
    "int": lambda v: int(float(v)) if v not in (None, "") else 0,
    "int64": lambda v: int(float(v)) if v not in (None, "") else 0,
    "float64": lambda v: float(v) if v not in (None, "") else 0.0,
    "toString": _text,
    "print": lambda *a: "".join(_text(v) for v in a),
    "printf": _printf,
    "upper": lambda s: _text(s).upper(),
    "lower": lambda s: _text(s).lower(),
    "trim": lambda s: _text(s).strip(),
    "trunc": _trunc,
    "trimSuffix": lambda suffix, s: _text(s).removesuffix(_text(suffix)),
    "trimPrefix": lambda prefix, s: _text(s).removeprefix(_text(prefix)),
    "replace": lambda old, new, s: _text(s).replace(_text(old), _text(new)),
    "contains": lambda sub, s: _text(sub) in _text(s),
    "hasPrefix": lambda prefix, s: _text(s).startswith(_text(prefix)),
    "hasSuffix": lambda suffix, s: _text(s).endswith(_text(suffix)),
    "eq": lambda a, *b: any(a == x for x in b),
    "ne": lambda a, b: a != b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "not": lambda v: not _truthy(v),
    "and": _and,
    "or": _or,
    "empty": lambda v: not _truthy(v),
    "hasKey": lambda m, k: isinstance(m, Mapping) and k in m,
    "get": lambda m, k: m.get(k, "") if isinstance(m, Mapping) else UNKNOWN,
    "index": lambda m, *keys: _index(m, keys),
    "len": len,
    "list": lambda *a: list(a),
    "dict": lambda *a: dict(zip(a[::2], a[1::2], strict=False)),
    "coalesce": _coalesce,
    "ternary": lambda yes, no, cond: yes if _truthy(cond) else no,
    "toPrettyJson": lambda v: json.dumps(v, indent=2, sort_keys=True),
    "omit": lambda m, *keys: {k: v for k, v in m.items() if k not in keys},
    "pick": lambda m, *keys: {k: v for k, v in m.items() if k in keys},
}
# Functions whose answer may not depend on an unknown argument.
_UNKNOWN_TOLERANT = frozenset({"and", "or", "coalesce", "default"})


def _first_line(body: list[Any]) -> int:
    for node in body:
        if isinstance(node, _Text | _Action):
            return node.line
        if isinstance(node, _Block):
            return node.line
    return 0


def _index(value: Any, keys: tuple[Any, ...]) -> Any:
    for key in keys:
        if isinstance(value, Mapping):
            value = value.get(key)
        elif isinstance(value, list | tuple) and isinstance(key, int):
            value = value[key]
        else:
            return UNKNOWN
    return value


# -- output with line provenance ----------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Rendered:
    """Rendered text, and for each of its lines the template line it came from."""

    text: str
    source_lines: tuple[int, ...]
    dropped_lines: tuple[int, ...] = ()  # template lines where a block was left out


class _Output:
    """Characters, each with the template line it came from."""

    def __init__(self) -> None:
        self.chars: list[str] = []
        self.lines: list[int] = []

    def write(self, text: str, line: int, *, follow: bool) -> None:
        """Append `text`; with `follow`, its newlines advance the line (template text),
        without, all of it is attributed to `line` (an action's expansion)."""
        for char in text:
            self.chars.append(char)
            self.lines.append(line)
            if follow and char == "\n":
                line += 1

    def finish(self, dropped: tuple[int, ...] = ()) -> Rendered:
        text = "".join(self.chars)
        source_lines: list[int] = []
        start = 0
        for end in [*(i for i, c in enumerate(self.chars) if c == "\n"), len(self.chars)]:
            chunk = range(start, end)
            first = next((i for i in chunk if not self.chars[i].isspace()), None)
            if first is not None:
                source_lines.append(self.lines[first])
            elif end < len(self.chars):
                source_lines.append(self.lines[end])
            elif source_lines:
                source_lines.append(source_lines[-1])
            start = end + 1
        return Rendered(text=text, source_lines=tuple(source_lines), dropped_lines=dropped)
