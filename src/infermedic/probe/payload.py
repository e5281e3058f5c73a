"""Request bodies: from an OpenAPI example or schema, or from Open Inference model metadata,
and the variations of a known-good body that production traffic brings."""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MAX_DEPTH = 8

# A V2 tensor's data by datatype; a plausible in-range value (1) rather than 0, which some
# models treat as "missing".
_V2_VALUES: dict[str, Any] = {"BOOL": True, "BYTES": "a", "FP16": 1.0, "FP32": 1.0, "FP64": 1.0}


def openapi_example(operation: Mapping[str, Any], document: Mapping[str, Any]) -> Any:
    """A JSON request body for an OpenAPI operation: its example, else one built from its schema.

    Returns None when the operation takes no JSON body.
    """
    body = operation.get("requestBody")
    if isinstance(body, Mapping) and "$ref" in body:
        body = resolve_ref(document, str(body["$ref"]))
    if not isinstance(body, Mapping):
        return None
    content = body.get("content", {})
    media = content.get("application/json") if isinstance(content, Mapping) else None
    if not isinstance(media, Mapping):
        return None
    if "example" in media:
        return media["example"]
    examples = media.get("examples")
    if isinstance(examples, Mapping):
        for example in examples.values():
            if isinstance(example, Mapping) and "value" in example:
                return example["value"]
    schema = media.get("schema")
    if not isinstance(schema, Mapping):
        return None
    return synthesise(schema, document)


def resolve_ref(document: Mapping[str, Any], ref: str) -> Any:
    """Follow a local `#/a/b` reference; None when it points nowhere."""
    if not ref.startswith("#/"):
        return None
    node: Any = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def synthesise(schema: Mapping[str, Any], document: Mapping[str, Any], depth: int = 0) -> Any:
    """A value valid for `schema`: its example/default/enum, else one built from its type."""
    if depth > MAX_DEPTH:
        return None
    if "$ref" in schema:
        target = resolve_ref(document, str(schema["$ref"]))
        return synthesise(target, document, depth + 1) if isinstance(target, Mapping) else None
    for key in ("example", "default", "const"):
        if key in schema:
            return schema[key]
    examples = schema.get("examples")
    if isinstance(examples, list) and examples:
        return examples[0]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    for combiner in ("allOf", "anyOf", "oneOf"):
        options = schema.get(combiner)
        if isinstance(options, list) and options:
            if combiner == "allOf":
                return _merge_all_of(options, document, depth)
            # Prefer a non-null alternative: `Optional[float]` is anyOf [number, null].
            chosen = next(
                (o for o in options if isinstance(o, Mapping) and o.get("type") != "null"),
                options[0],
            )
            return synthesise(chosen, document, depth + 1) if isinstance(chosen, Mapping) else None
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind == "object" or (kind is None and "properties" in schema):
        properties = schema.get("properties", {})
        return {
            name: synthesise(prop, document, depth + 1)
            for name, prop in (properties.items() if isinstance(properties, Mapping) else ())
            if isinstance(prop, Mapping)
        }
    if kind == "array":
        items = schema.get("items", {})
        count = max(int(schema.get("minItems", 1) or 1), 1)
        item = synthesise(items, document, depth + 1) if isinstance(items, Mapping) else 1.0
        return [item] * count
    if kind in ("number", "integer"):
        return _number_in_range(schema, integer=kind == "integer")
    if kind == "boolean":
        return True
    if kind == "string":
        length = int(schema.get("minLength", 1) or 1)
        return "a" * max(length, 1)
    return None


def _merge_all_of(options: list[Any], document: Mapping[str, Any], depth: int) -> Any:
    merged: dict[str, Any] = {}
    for option in options:
        if not isinstance(option, Mapping):
            continue
        value = synthesise(option, document, depth + 1)
        if not isinstance(value, dict):
            return value
        merged.update(value)
    return merged


def _number_in_range(schema: Mapping[str, Any], *, integer: bool) -> float | int:
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    value: float
    if isinstance(low, int | float) and isinstance(high, int | float):
        value = (float(low) + float(high)) / 2.0
    elif isinstance(low, int | float):
        value = float(low) + 1.0
    elif isinstance(high, int | float):
        value = float(high) - 1.0
    else:
        value = 1.0
    return round(value) if integer else value


def v2_request(metadata: Mapping[str, Any]) -> dict[str, Any] | None:
    """An Open Inference request built from model metadata (`inputs`: name, datatype, shape)."""
    inputs = metadata.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        return None
    tensors = []
    for tensor in inputs:
        if not isinstance(tensor, Mapping) or "name" not in tensor:
            return None
        shape = [int(d) if int(d) > 0 else 1 for d in tensor.get("shape", [1]) or [1]]
        datatype = str(tensor.get("datatype", "FP32")).upper()
        size = 1
        for dim in shape:
            size *= dim
        value = _V2_VALUES.get(datatype, 1)
        tensors.append(
            {"name": tensor["name"], "shape": shape, "datatype": datatype, "data": [value] * size}
        )
    return {"inputs": tensors}


# -- bodies like production: variations of the known-good one ----------------------------------
FieldPath = tuple[str | int, ...]
LONG_STRING_CHARS = 4096  # long enough to cross a tokenizer's or column's limit, still bounded


@dataclass(frozen=True, kw_only=True)
class BodyVariant:
    """A request body varied from the known-good one in one field.

    `valid` is True when the schema says the service must accept it (an optional field
    left out, a null where null is allowed, a value on a declared bound), False when the
    schema says it must be refused, None when there is no schema to tell.
    """

    name: str
    body: Any
    field: str
    kind: str  # omitted | null | boundary
    valid: bool | None


def body_variants(
    body: Any,
    schema: Mapping[str, Any] | None,
    document: Mapping[str, Any] | None = None,
    limit: int = 24,
) -> list[BodyVariant]:
    """Bodies like production's, each differing from `body` in one field: optional fields
    left out, nulls, boundary values (declared bounds, 0 and -1, empty and long strings,
    empty lists). At most `limit`, spread over the fields (every field's first variant
    comes before any field's second)."""
    if not isinstance(body, Mapping) or not body:
        return []
    document = document or {}
    per_field: list[list[BodyVariant]] = []
    for path, value, field_schema, required in _fields(body, schema, document):
        name = _show_path(path)
        variants: list[BodyVariant] = []
        if field_schema is not None or schema is None:
            known = schema is not None
            kind_text = "optional field" if known and not required else "field"
            variants.append(
                BodyVariant(
                    name=f"{kind_text} `{name}` left out",
                    body=_without(body, path),
                    field=name,
                    kind="omitted",
                    valid=(not required) if known else None,
                )
            )
        nullable = _nullable(field_schema, document) if field_schema is not None else None
        if value is not None:
            variants.append(
                BodyVariant(
                    name=f"null at `{name}`",
                    body=_with(body, path, None),
                    field=name,
                    kind="null",
                    valid=nullable if schema is not None else None,
                )
            )
        for label, bound, valid in _boundaries(value, field_schema, document, schema is not None):
            variants.append(
                BodyVariant(
                    name=f"{label} at `{name}`",
                    body=_with(body, path, bound),
                    field=name,
                    kind="boundary",
                    valid=valid,
                )
            )
        per_field.append(variants)
    spread: list[BodyVariant] = []
    for round_ in range(max((len(v) for v in per_field), default=0)):
        spread.extend(v[round_] for v in per_field if round_ < len(v))
    return spread[:limit]


def unique_bodies(body: Any, count: int) -> list[Any]:
    """`count` bodies that differ from `body` and from each other, each still a plausible
    request: a float leaf nudged in its last digits (the prediction barely moves, but a
    cache keyed by the body or its features sees a new key), else an integer leaf counted
    up, else a string leaf with a suffix. Empty when `body` has no leaf to vary."""
    leaves = [(p, v) for p, v in _leaf_values(body) if p]
    floats = [(p, v) for p, v in leaves if isinstance(v, float) and math.isfinite(v)]
    ints = [(p, v) for p, v in leaves if isinstance(v, int) and not isinstance(v, bool)]
    strings = [(p, v) for p, v in leaves if isinstance(v, str)]
    if floats:
        path, base = floats[0]
        step = abs(base) * 1e-9 if base else 1e-9
        return [_with(body, path, base + step * (i + 1)) for i in range(count)]
    if ints:
        path, base_int = ints[0]
        return [_with(body, path, base_int + i + 1) for i in range(count)]
    if strings:
        path, text = strings[0]
        return [_with(body, path, f"{text}-{i + 1}") for i in range(count)]
    return []


def _leaf_values(value: Any, path: FieldPath = ()) -> list[tuple[FieldPath, Any]]:
    if isinstance(value, Mapping):
        return [leaf for k, v in value.items() for leaf in _leaf_values(v, (*path, k))]
    if isinstance(value, list):
        return [leaf for i, v in enumerate(value) for leaf in _leaf_values(v, (*path, i))]
    return [(path, value)]


def _fields(
    body: Mapping[str, Any],
    schema: Mapping[str, Any] | None,
    document: Mapping[str, Any],
    path: FieldPath = (),
    depth: int = 0,
) -> list[tuple[FieldPath, Any, Mapping[str, Any] | None, bool]]:
    """(path, value, the field's schema, required) for every object field, nested objects
    included (their fields after the outer ones)."""
    resolved = _resolved(schema, document) if schema is not None else None
    properties = resolved.get("properties", {}) if resolved is not None else {}
    required = set(resolved.get("required", ()) or ()) if resolved is not None else set()
    found: list[tuple[FieldPath, Any, Mapping[str, Any] | None, bool]] = []
    nested: list[tuple[FieldPath, Any, Mapping[str, Any] | None, bool]] = []
    for key, value in body.items():
        field_schema = properties.get(key) if isinstance(properties, Mapping) else None
        if not isinstance(field_schema, Mapping):
            field_schema = None
        found.append(((*path, key), value, field_schema, key in required))
        if isinstance(value, Mapping) and depth < 2:
            nested += _fields(value, field_schema, document, (*path, key), depth + 1)
    return found + nested


def _resolved(schema: Mapping[str, Any], document: Mapping[str, Any]) -> Mapping[str, Any]:
    """The schema behind `$ref`s and single-option `allOf`/`anyOf` (Optional[Model])."""
    for _ in range(MAX_DEPTH):
        if "$ref" in schema:
            target = resolve_ref(document, str(schema["$ref"]))
            if not isinstance(target, Mapping):
                return schema
            schema = target
            continue
        options = schema.get("allOf") or schema.get("anyOf") or schema.get("oneOf")
        if isinstance(options, list):
            real = [o for o in options if isinstance(o, Mapping) and o.get("type") != "null"]
            if len(real) == 1:
                schema = real[0]
                continue
        break
    return schema


def _nullable(schema: Mapping[str, Any], document: Mapping[str, Any]) -> bool:
    if schema.get("nullable") is True or schema.get("type") == "null":
        return True
    kind = schema.get("type")
    if isinstance(kind, list) and "null" in kind:
        return True
    if "default" in schema and schema["default"] is None:
        return True
    for combiner in ("anyOf", "oneOf"):
        options = schema.get(combiner)
        if isinstance(options, list) and any(
            isinstance(o, Mapping) and _nullable(_resolved(o, document), document) for o in options
        ):
            return True
    return False


def _boundaries(
    value: Any, schema: Mapping[str, Any] | None, document: Mapping[str, Any], has_schema: bool
) -> list[tuple[str, Any, bool | None]]:
    """(label, value, valid) for the boundary values of one field."""
    resolved = _resolved(schema, document) if schema is not None else {}
    found: list[tuple[str, Any, bool | None]] = []
    if isinstance(value, bool):
        return [("flipped boolean", not value, True if has_schema else None)]
    if isinstance(value, int | float):
        integer = isinstance(value, int) or resolved.get("type") == "integer"
        low, high = resolved.get("minimum"), resolved.get("maximum")
        if isinstance(low, int | float) and not isinstance(low, bool):
            found.append((f"minimum {low:g}", low, True))
        if isinstance(high, int | float) and not isinstance(high, bool):
            found.append((f"maximum {high:g}", high, True))
        for edge in (0, -1):
            if not any(edge == f[1] for f in found):
                inside = _inside(edge, resolved) if has_schema and schema is not None else None
                found.append((f"value {edge}", edge if integer else float(edge), inside))
        return found
    if isinstance(value, str):
        enum = resolved.get("enum")
        if isinstance(enum, list) and enum:
            last = enum[-1]
            if last != value:
                found.append((f"last allowed value {last!r}", last, True))
            return found
        min_length = resolved.get("minLength")
        empty_ok: bool | None = None
        if has_schema and schema is not None:
            empty_ok = not (isinstance(min_length, int) and min_length > 0)
        found.append(("empty string", "", empty_ok))
        max_length = resolved.get("maxLength")
        long_ok: bool | None = None
        if has_schema and schema is not None:
            long_ok = not (isinstance(max_length, int) and max_length < LONG_STRING_CHARS)
        found.append((f"{LONG_STRING_CHARS}-character string", "x" * LONG_STRING_CHARS, long_ok))
        return found
    if isinstance(value, list) and value:
        min_items = resolved.get("minItems")
        empty_list_ok: bool | None = None
        if has_schema and schema is not None:
            empty_list_ok = not (isinstance(min_items, int) and min_items > 0)
        found.append(("empty list", [], empty_list_ok))
    return found


def _inside(value: float, schema: Mapping[str, Any]) -> bool:
    def bound(key: str) -> float | None:
        found = schema.get(key)
        if isinstance(found, int | float) and not isinstance(found, bool):
            return float(found)
        return None

    low, high = bound("minimum"), bound("maximum")
    low_open, high_open = bound("exclusiveMinimum"), bound("exclusiveMaximum")
    return not (
        (low is not None and value < low)
        or (high is not None and value > high)
        or (low_open is not None and value <= low_open)
        or (high_open is not None and value >= high_open)
    )


def _with(body: Any, path: FieldPath, value: Any) -> Any:
    changed = copy.deepcopy(body)
    node = changed
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return changed


def _without(body: Any, path: FieldPath) -> Any:
    changed = copy.deepcopy(body)
    node = changed
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return changed


def _show_path(path: FieldPath) -> str:
    return ".".join(str(p) for p in path)
