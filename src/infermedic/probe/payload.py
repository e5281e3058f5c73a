"""Request bodies: from an OpenAPI example or schema, or from Open Inference model metadata."""

from __future__ import annotations

from collections.abc import Mapping
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
