"""Production-like bodies: variations of the known-good one, and unique bodies for caches."""

from __future__ import annotations

import json
from typing import Any

from infermedic.probe.payload import body_variants, unique_bodies

SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["age", "plan"],
    "properties": {
        "age": {"type": "integer", "minimum": 18, "maximum": 99},
        "income": {"type": "number"},
        "plan": {"type": "string", "enum": ["basic", "pro"]},
        "segment": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1},
    },
}
BODY = {"age": 40, "income": 52000.5, "plan": "basic", "segment": "smb", "tags": ["a"]}


def by_name(variants: Any) -> dict[str, Any]:
    return {v.name: v for v in variants}


def test_optional_fields_left_out_are_valid_requests_required_ones_are_not() -> None:
    found = by_name(body_variants(BODY, SCHEMA, limit=100))
    segment = found["optional field `segment` left out"]
    assert segment.valid is True and "segment" not in segment.body
    assert segment.field == "segment" and segment.kind == "omitted"
    assert found["field `age` left out"].valid is False
    assert found["optional field `income` left out"].valid is True


def test_nulls_are_valid_only_where_the_schema_allows_them() -> None:
    found = by_name(body_variants(BODY, SCHEMA, limit=100))
    assert found["null at `segment`"].valid is True
    assert found["null at `segment`"].body["segment"] is None
    assert found["null at `age`"].valid is False


def test_boundary_values_follow_the_declared_bounds() -> None:
    found = by_name(body_variants(BODY, SCHEMA, limit=100))
    assert found["minimum 18 at `age`"].body["age"] == 18
    assert found["minimum 18 at `age`"].valid is True
    assert found["maximum 99 at `age`"].valid is True
    assert found["value 0 at `age`"].valid is False  # below the minimum
    assert found["value -1 at `income`"].valid is True  # no bound declared
    assert found["last allowed value 'pro' at `plan`"].body["plan"] == "pro"
    assert found["empty list at `tags`"].valid is False  # minItems 1
    assert found["empty string at `segment`"].valid is True
    long = found["4096-character string at `segment`"].body["segment"]
    assert len(long) == 4096


def test_without_a_schema_every_variation_has_an_unknown_expected_status() -> None:
    variants = body_variants({"x": 1.5, "name": "a"}, None, limit=100)
    assert variants and all(v.valid is None for v in variants)
    assert {v.name for v in variants} >= {
        "field `x` left out",
        "null at `x`",
        "value 0 at `x`",
        "empty string at `name`",
    }


def test_the_limit_spreads_over_the_fields_first() -> None:
    variants = body_variants(BODY, SCHEMA, limit=5)
    assert len(variants) == 5
    assert len({v.field for v in variants}) == 5  # each field once before any twice


def test_nested_objects_are_varied_too() -> None:
    variants = body_variants({"customer": {"age": 3}}, None, limit=100)
    assert "null at `customer.age`" in {v.name for v in variants}
    dropped = by_name(variants)["field `customer.age` left out"]
    assert dropped.body == {"customer": {}}


def test_body_variants_never_change_the_original() -> None:
    original = json.dumps(BODY)
    body_variants(BODY, SCHEMA, limit=100)
    assert json.dumps(BODY) == original


def test_only_object_bodies_have_variants() -> None:
    assert body_variants([1.0, 2.0], None) == []
    assert body_variants({}, None) == []


def test_unique_bodies_differ_from_each_other_and_stay_close() -> None:
    bodies = unique_bodies(BODY, 200)
    texts = {json.dumps(b, sort_keys=True) for b in bodies}
    assert len(texts) == 200 and json.dumps(BODY, sort_keys=True) not in texts
    assert all(abs(b["income"] / BODY["income"] - 1) < 1e-6 for b in bodies)  # relative
    assert all({k: v for k, v in b.items() if k != "income"} == {
        k: v for k, v in BODY.items() if k != "income"
    } for b in bodies)  # fmt: skip


def test_unique_bodies_fall_back_to_integers_then_strings() -> None:
    assert unique_bodies({"n": 1}, 3) == [{"n": 2}, {"n": 3}, {"n": 4}]
    assert unique_bodies({"s": "a"}, 2) == [{"s": "a-1"}, {"s": "a-2"}]
    assert unique_bodies({"flag": True}, 2) == []
