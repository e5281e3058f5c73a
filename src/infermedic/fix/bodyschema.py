"""A pydantic request model inferred from example request bodies, for the SVC006 fix.

Nothing is guessed: every field and type comes from the examples. Numbers mix to `float`,
a value that is sometimes null becomes `T | None`, a key missing from some examples becomes
optional (`= None`), nested objects become nested models. Examples that no single type
covers (a field that is a string in one and a number in another) are refused. The model
forbids extra keys only when every example has the same keys; otherwise it keeps them
(`extra="allow"`), so the route's code still sees every key a client sends.
"""

from __future__ import annotations

import keyword
from dataclasses import dataclass
from typing import Any

from infermedic.fix.base import Refused

_SCALARS = ((bool, "bool"), (int, "int"), (float, "float"), (str, "str"))
# names BaseModel itself defines: a field with one of them would shadow it
_RESERVED = frozenset(
    {"copy", "dict", "json", "schema", "construct", "validate", "fields", "parse_obj"}
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Inferred:
    """The model's source (classes, outermost last), the imports it needs, and a field of
    the top model with a value of the wrong type (for the regression test's bad body)."""

    source: str
    imports: tuple[tuple[str, str], ...]
    wrong: tuple[str, Any] | None  # (field, a value its type rejects)
    required: tuple[str, ...]  # the top model's required fields


def infer_model(name: str, examples: list[Any], taken: frozenset[str] = frozenset()) -> Inferred:
    """The pydantic model `name` every example validates against; raises `Refused`. Nested
    models get names not in `taken` (the module's names)."""
    if not examples:
        raise Refused("no example request body")
    if not all(isinstance(e, dict) for e in examples):
        raise Refused("an example body is not a JSON object: only object bodies get a model")
    builder = _Builder(taken | {name})
    builder.model(name, examples, "body")
    top = builder.fields[name]
    wrong = next(((field, _wrong_value(kind)) for field, kind, _opt in top), None)
    required = tuple(field for field, _kind, optional in top if not optional)
    imports = [("pydantic", "BaseModel")]
    if builder.uses_config:
        imports.append(("pydantic", "ConfigDict"))
    if builder.uses_any:
        imports.append(("typing", "Any"))
    return Inferred(
        source="\n\n\n".join(builder.classes) + "\n",
        imports=tuple(imports),
        wrong=wrong,
        required=required,
    )


class _Builder:
    def __init__(self, taken: frozenset[str]) -> None:
        self.taken = set(taken)
        self.classes: list[str] = []
        self.fields: dict[str, list[tuple[str, str, bool]]] = {}
        self.uses_config = False
        self.uses_any = False

    def model(self, name: str, objects: list[dict[str, Any]], where: str) -> str:
        keys: list[str] = []
        for obj in objects:
            keys.extend(k for k in obj if k not in keys)
        if not keys:
            raise Refused(f"{where}: the example object has no keys to validate")
        same_keys = all(set(obj) == set(keys) for obj in objects)
        lines = [f"class {name}(BaseModel):"]
        config = ['extra="forbid"' if same_keys else 'extra="allow"']
        if any(k.startswith("model_") for k in keys):
            config.append("protected_namespaces=()")  # `model_version` is a fine field
        self.uses_config = True
        lines.append(f"    model_config = ConfigDict({', '.join(config)})")
        lines.append("")
        fields: list[tuple[str, str, bool]] = []
        for key in keys:
            if not key.isidentifier() or keyword.iskeyword(key) or key.startswith("_"):
                raise Refused(f"{where}: key {key!r} is not a Python name (an alias is needed)")
            if key in _RESERVED or key == "model_config":
                raise Refused(f"{where}: key {key!r} would shadow a pydantic BaseModel method")
            values = [obj[key] for obj in objects if key in obj]
            missing = len(values) < len(objects)  # optional: some example leaves it out
            kind = self.kind([v for v in values if v is not None], f"{where}.{key}", key)
            if any(v is None for v in values) or missing:
                kind = f"{kind} | None"
            lines.append(f"    {key}: {kind}" + (" = None" if missing else ""))
            fields.append((key, kind, missing))
        self.fields[name] = fields
        self.classes.append("\n".join(lines))
        return name

    def kind(self, values: list[Any], where: str, key: str) -> str:
        if not values:
            raise Refused(f"{where} is null in every example: its type is unknown")
        if all(isinstance(v, dict) for v in values):
            return self.model(self.unique(_camel(key)), values, where)
        if all(isinstance(v, list) for v in values):
            items = [item for v in values for item in v]
            if not items:
                self.uses_any = True
                return "list[Any]"  # only empty lists seen: any item is allowed
            if any(item is None for item in items):
                raise Refused(f"{where} holds nulls in a list: no item type covers them")
            return f"list[{self.kind(items, f'{where}[]', key + '_item')}]"
        seen = set()
        for value in values:
            name = next((n for t, n in _SCALARS if isinstance(value, t)), None)
            if name is None:
                raise Refused(f"{where} mixes objects, lists and plain values in the examples")
            seen.add(name)
        if len(seen) == 1:
            return seen.pop()
        if seen == {"int", "float"}:
            return "float"
        raise Refused(f"{where} is {' and '.join(sorted(seen))} in different examples")

    def unique(self, name: str) -> str:
        candidate, number = name, 2
        while candidate in self.taken:
            candidate, number = f"{name}{number}", number + 1
        self.taken.add(candidate)
        return candidate


def _camel(key: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in key.split("_") if part) or "Item"


def _wrong_value(kind: str) -> Any:
    """A JSON value the type `kind` rejects."""
    if kind.endswith(" | None"):
        kind = kind.removesuffix(" | None")
    if kind in {"int", "float", "bool"} or kind.startswith("list["):
        return "not-a-number" if kind != "bool" else "not-a-bool"
    if kind == "str":
        return ["not", "a", "string"]
    return "not-an-object"  # a nested model
