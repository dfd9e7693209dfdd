"""Pins identifier formats (NEVER CHANGE) and the Kafka-compatible murmur2."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sdk._ids import (
    InvalidIdError,
    awakeable_id,
    child_invocation_id,
    idempotent_invocation_id,
    invocation_id_for,
    keyed_routing_key,
    murmur2,
    parse_awakeable_id,
    parse_invocation_id,
    partition_for_hash,
    routing_hash,
    subscription_invocation_id,
    workflow_invocation_id,
)

# Vectors from Kafka's own UtilsTest (org.apache.kafka.common.utils).
KAFKA_VECTORS = {
    "21": -973932308,
    "foobar": -790332482,
    "a-little-bit-long-string": -985981536,
    "a-little-bit-longer-string": -1486304829,
    "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    "abc": 479470107,
}


@pytest.mark.parametrize(("text", "expected"), KAFKA_VECTORS.items())
def test_murmur2_matches_kafka(text: str, expected: int) -> None:
    assert murmur2(text.encode()) == expected


def test_deterministic_ids_are_pinned() -> None:
    assert workflow_invocation_id("W", "x") == "inv_3I0hTiudk6LNyV9dbmWXp0qfIvY"
    assert idempotent_invocation_id("Greeter", "greet", None, "k1") == idempotent_invocation_id(
        "Greeter", "greet", None, "k1"
    )
    assert idempotent_invocation_id("Greeter", "greet", None, "k1") != idempotent_invocation_id(
        "Greeter", "greet", None, "k2"
    )
    a = child_invocation_id("inv_3I0hTiudk6LNyV9dbmWXp0qfIvY", 3, "Counter", "c")
    assert a == child_invocation_id("inv_3I0hTiudk6LNyV9dbmWXp0qfIvY", 3, "Counter", "c")
    assert a != child_invocation_id("inv_3I0hTiudk6LNyV9dbmWXp0qfIvY", 4, "Counter", "c")
    s = subscription_invocation_id("sub_1", "orders", 2, 41, "Orders", "k")
    assert s != subscription_invocation_id("sub_1", "orders", 2, 42, "Orders", "k")


def test_keyed_ids_route_to_the_object_partition() -> None:
    for i in range(50):
        inv = invocation_id_for(service="Counter", key=f"k{i}")
        rhash, _ = parse_invocation_id(inv)
        assert rhash == routing_hash(keyed_routing_key("Counter", f"k{i}"))
        assert 0 <= partition_for_hash(rhash, 8) < 8


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_awakeable_ids_round_trip(index: int) -> None:
    inv = invocation_id_for(service="S", key=None)
    assert parse_awakeable_id(awakeable_id(inv, index)) == (inv, index)


@pytest.mark.parametrize(
    "bad",
    ["", "inv_", "inv_short", "xyz_3I0hTiudk6LNyV9dbmWXp0qfIvY", "inv_3I0hTiudk6LNyV9dbmWXp0qf!vY"],
)
def test_malformed_invocation_ids_are_rejected(bad: str) -> None:
    with pytest.raises(InvalidIdError):
        parse_invocation_id(bad)


def test_malformed_awakeable_ids_are_rejected() -> None:
    with pytest.raises(InvalidIdError):
        parse_awakeable_id("prom_nope")
