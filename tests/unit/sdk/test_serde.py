"""Serde round-trips for every supported type, and the handler-input error path."""

from __future__ import annotations

import dataclasses
import enum
from typing import Any, Literal, TypedDict

import msgspec
import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sdk.serde import (
    BytesSerde,
    DefaultSerde,
    JsonSerde,
    MsgspecJsonSerde,
    PydanticJsonSerde,
    Serde,
)


class Model(pydantic.BaseModel):
    name: str
    tags: list[str] = []
    score: float | None = None


@dataclasses.dataclass
class Point:
    x: int
    y: int
    label: str = ""


@dataclasses.dataclass
class Path:
    points: list[Point]
    closed: bool


class Item(msgspec.Struct):
    sku: str
    qty: int


class Movie(TypedDict):
    title: str
    year: int


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


ROUND_TRIPS: list[tuple[Any, Any]] = [
    (Model, Model(name="a", tags=["x"], score=1.5)),
    (Point, Point(1, 2, "p")),
    (Path, Path([Point(1, 2), Point(3, 4, "z")], True)),
    (Item, Item(sku="s", qty=3)),
    (Movie, Movie(title="Up", year=2009)),
    (int, 42),
    (float, 2.5),
    (str, "héllo"),
    (bool, True),
    (list[int], [1, 2, 3]),
    (dict[str, float], {"a": 1.0}),
    (list[Model], [Model(name="m")]),
    (dict[str, Point], {"p": Point(0, 0)}),
    (list[Item], [Item(sku="a", qty=1)]),
    (tuple[int, str], (1, "a")),
    (Color, Color.BLUE),
    (Literal["a", "b"], "b"),
    (Point | None, Point(5, 6)),
    (bytes, b"\x00\xffraw"),
]


@pytest.mark.parametrize(("hint", "value"), ROUND_TRIPS, ids=lambda v: repr(v)[:30])
def test_default_serde_round_trip(hint: Any, value: Any) -> None:
    serde: Serde[Any] = DefaultSerde(hint)
    data = serde.serialize(value)
    assert isinstance(data, bytes)
    assert serde.deserialize(data) == value


def test_none_is_empty_bytes() -> None:
    for hint in (None, int, Model, Point, Item, list[int]):
        serde: Serde[Any] = DefaultSerde(hint)
        assert serde.serialize(None) == b""
        assert serde.deserialize(b"") is None
    assert DefaultSerde(bytes).deserialize(b"") == b""


def test_untyped_default_serde_encodes_by_runtime_type() -> None:
    serde: DefaultSerde[Any] = DefaultSerde()
    assert serde.serialize(Model(name="a")) == b'{"name":"a","tags":[],"score":null}'
    assert serde.serialize(Point(1, 2)) == b'{"x":1,"y":2,"label":""}'
    assert serde.serialize(Item(sku="s", qty=1)) == b'{"sku":"s","qty":1}'
    assert serde.deserialize(b'{"a": [1, 2]}') == {"a": [1, 2]}
    assert serde.with_maybe_type(int).type_hint is int


def test_wire_format_is_plain_json() -> None:
    assert DefaultSerde(Point).serialize(Point(1, 2)) == b'{"x":1,"y":2,"label":""}'
    assert DefaultSerde(str).serialize("a") == b'"a"'
    assert DefaultSerde(Model).deserialize(b'{"name": "n"}') == Model(name="n")


@pytest.mark.parametrize(
    ("hint", "data"),
    [
        (int, b'"x"'),
        (Point, b'{"x": 1}'),
        (Model, b'{"tags": []}'),
        (Item, b'{"sku": 1, "qty": 1}'),
        (list[int], b"{"),
    ],
)
def test_invalid_input_raises(hint: Any, data: bytes) -> None:
    with pytest.raises(Exception):  # noqa: B017 - pydantic/msgspec/json errors all qualify
        DefaultSerde(hint).deserialize(data)


def test_explicit_serdes() -> None:
    assert BytesSerde().serialize(b"a") == b"a" and BytesSerde().deserialize(b"a") == b"a"
    assert BytesSerde().serialize(None) == b""
    assert JsonSerde[Any]().serialize({"a": 1}) == b'{"a": 1}'
    assert JsonSerde[Any]().deserialize(b"") is None
    p: PydanticJsonSerde[Model] = PydanticJsonSerde(Model)
    assert p.deserialize(p.serialize(Model(name="q"))) == Model(name="q")
    m: MsgspecJsonSerde[Item] = MsgspecJsonSerde(Item)
    assert m.deserialize(m.serialize(Item(sku="a", qty=2))) == Item(sku="a", qty=2)
    with pytest.raises(TypeError):
        PydanticJsonSerde(Point)
    with pytest.raises(TypeError):
        MsgspecJsonSerde(Model)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_untyped_round_trip_property(value: Any) -> None:
    serde: DefaultSerde[Any] = DefaultSerde()
    data = serde.serialize(value)
    if value is None:
        assert data == b""
    assert serde.deserialize(data) == value


@given(
    st.builds(
        Point,
        x=st.integers(min_value=-(2**63), max_value=2**63 - 1),
        y=st.integers(min_value=-(2**63), max_value=2**63 - 1),
        label=st.text(),
    )
)
def test_dataclass_round_trip_property(p: Point) -> None:
    serde: DefaultSerde[Point] = DefaultSerde(Point)
    assert serde.deserialize(serde.serialize(p)) == p


@given(st.builds(Model, name=st.text(), tags=st.lists(st.text(), max_size=3)))
def test_pydantic_round_trip_property(m: Model) -> None:
    serde: DefaultSerde[Model] = DefaultSerde(Model)
    assert serde.deserialize(serde.serialize(m)) == m


@given(st.binary())
def test_bytes_round_trip_property(b: bytes) -> None:
    serde: DefaultSerde[bytes] = DefaultSerde(bytes)
    assert serde.deserialize(serde.serialize(b)) == b


@given(st.builds(Item, sku=st.text(), qty=st.integers(min_value=0, max_value=10**9)))
def test_msgspec_round_trip_property(item: Item) -> None:
    serde: DefaultSerde[Item] = DefaultSerde(Item)
    assert serde.deserialize(serde.serialize(item)) == item
