"""Pins the Redis key layout (NEVER CHANGE) and the guarantees of its escaping."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime.state.keys import (
    META_APPLIED,
    META_APPLIED_TOKEN,
    META_EPOCH,
    KeyKind,
    PartitionKeys,
    escape,
    unescape,
)

HOSTILE = [
    "",
    "/",
    "a/b",
    "{",
    "}",
    "{p1}",
    "}{",
    "a}b{c",
    ":",
    "%",
    "%2F",
    "*",
    "?",
    "[a-z]",
    "\\",
    " ",
    "\x00",
    "\n",
    "é",
    "日本",
    "🦀",
    "\udc80",
]


def redis_hash_tag(key: str) -> str:
    """The part of a key Redis Cluster hashes (cluster.c keyHashSlot)."""
    start = key.find("{")
    if start == -1:
        return key
    end = key.find("}", start + 1)
    if end == -1 or end == start + 1:
        return key
    return key[start + 1 : end]


def test_layout_is_pinned() -> None:
    """NEVER CHANGE: these strings are the keys of every deployed cluster."""
    k = PartitionKeys("rt", 7)
    assert k.base == "rt:{p7}:"
    assert k.hash_tag == "p7"
    assert k.meta == "rt:{p7}:meta"
    assert k.active == "rt:{p7}:active"
    assert k.outbox == "rt:{p7}:outbox"
    assert k.timers == "rt:{p7}:timers"
    assert k.cron == "rt:{p7}:cron"
    assert k.egress == "rt:{p7}:egress"
    assert k.dlq == "rt:{p7}:dlq"
    assert k.history == "rt:{p7}:history"
    assert k.history_expiry == "rt:{p7}:history_expiry"
    inv = "inv_1aB2cD3eF4gH5iJ6kL7mN8oP9q"
    assert k.inv(inv) == f"rt:{{p7}}:inv:{inv}"
    assert k.journal(inv) == f"rt:{{p7}}:journal:{inv}"
    assert k.lock("Counter", "alice") == "rt:{p7}:lock:Counter/alice"
    assert k.inbox("Counter", "alice") == "rt:{p7}:inbox:Counter/alice"
    assert k.state("Counter", "alice") == "rt:{p7}:state:Counter/alice"
    assert k.promise("Signup", "user-1") == "rt:{p7}:promise:Signup/user-1"
    assert (META_EPOCH, META_APPLIED, META_APPLIED_TOKEN) == ("epoch", "applied", "applied_token")
    assert [kind.value for kind in KeyKind] == [
        "inv",
        "journal",
        "lock",
        "inbox",
        "state",
        "promise",
    ]
    assert k.kind_prefix(KeyKind.INV) == "rt:{p7}:inv:"
    assert k.kind_prefix("state") == "rt:{p7}:state:"


def test_escaping_is_pinned() -> None:
    """NEVER CHANGE: %-encoded UTF-8 (surrogates passed through), RFC 3986 unreserved kept."""
    assert escape("Az09-._~") == "Az09-._~"
    assert escape("a/b") == "a%2Fb"
    assert escape("{p1}") == "%7Bp1%7D"
    assert escape(":*?[]\\%") == "%3A%2A%3F%5B%5D%5C%25"
    assert escape(" \x00") == "%20%00"
    assert escape("é日🦀") == "%C3%A9%E6%97%A5%F0%9F%A6%80"
    assert escape("\udc80") == "%ED%B2%80"
    k = PartitionKeys("t-1.x_y", 0)
    assert k.state("a/b", "c") == "t-1.x_y:{p0}:state:a%2Fb/c"
    assert k.state("a", "b/c") == "t-1.x_y:{p0}:state:a/b%2Fc"
    assert k.lock("Svc", "}{p9}") == "t-1.x_y:{p0}:lock:Svc/%7D%7Bp9%7D"


@pytest.mark.parametrize("text", HOSTILE)
def test_escape_round_trips_hostile(text: str) -> None:
    assert unescape(escape(text)) == text
    assert escape(text).isascii()
    assert not set(escape(text)) & set("{}/:*?[]\\ ")


@given(st.text())
def test_escape_round_trips(text: str) -> None:
    assert unescape(escape(text)) == text


@given(st.text(), st.text(), st.text(), st.text())
def test_distinct_objects_get_distinct_keys(s1: str, k1: str, s2: str, k2: str) -> None:
    k = PartitionKeys("rt", 3)
    assert (k.state(s1, k1) == k.state(s2, k2)) == ((s1, k1) == (s2, k2))


@given(st.text(), st.text(), st.integers(min_value=0, max_value=4095))
def test_user_input_cannot_move_the_hash_tag(service: str, key: str, partition: int) -> None:
    k = PartitionKeys("rt", partition)
    tag = f"p{partition}"
    for built in (
        k.inv(key),
        k.journal(key),
        k.lock(service, key),
        k.inbox(service, key),
        k.state(service, key),
        k.promise(service, key),
    ):
        assert redis_hash_tag(built) == tag, built


def test_keys_parse_back() -> None:
    k = PartitionKeys("rt", 12)
    for service in HOSTILE:
        for key in HOSTILE:
            assert k.invocation_id_of(k.inv(key)) == key
            assert k.invocation_id_of(k.journal(key).encode()) == key
            for build in (k.lock, k.inbox, k.state, k.promise):
                assert k.object_of(build(service, key)) == (service, key)


def test_parsing_rejects_foreign_keys() -> None:
    k = PartitionKeys("rt", 1)
    with pytest.raises(ValueError, match="not a key of"):
        k.invocation_id_of(PartitionKeys("rt", 10).inv("x"))
    with pytest.raises(ValueError, match="not a key of"):
        k.object_of("other:{p1}:state:a/b")
    with pytest.raises(ValueError, match="not an invocation key"):
        k.invocation_id_of(k.state("a", "b"))
    with pytest.raises(ValueError, match="not an object key"):
        k.object_of(k.inv("x"))
    with pytest.raises(ValueError):
        k.object_of(k.meta)


@pytest.mark.parametrize("prefix", ["", "a:b", "a{b", "a}b", "a b", "a*", "ü"])
def test_prefix_is_validated(prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        PartitionKeys(prefix, 0)


def test_partition_is_validated() -> None:
    with pytest.raises(ValueError, match="partition"):
        PartitionKeys("rt", -1)
    with pytest.raises(ValueError):
        PartitionKeys("rt", 0).kind_prefix("meta")


def test_value_semantics() -> None:
    assert PartitionKeys("rt", 1) == PartitionKeys("rt", 1)
    assert PartitionKeys("rt", 1) != PartitionKeys("rt", 2)
    assert len({PartitionKeys("rt", 1), PartitionKeys("rt", 1)}) == 1
    assert repr(PartitionKeys("rt", 1)) == "PartitionKeys('rt', 1)"


@given(st.text())
def test_escape_equals_quote_with_nothing_safe(part: str) -> None:
    """The fast path for plain parts must not change a single key (stored data)."""
    assert escape(part) == quote(part, safe="", errors="surrogatepass")
