"""The Redis key layout of a partition's materialized state. NEVER CHANGE.

Every key of partition ``N`` starts with ``{prefix}:{pN}:``. The braces are a
Redis Cluster hash tag: all keys of one partition hash to the same slot, so
one Lua script can apply a whole batch atomically even on a Redis Cluster
(ARCHITECTURE.md, "Redis"). ``tests/unit/state/test_keys.py`` pins the format
with fixed vectors; changing it orphans the state of every running cluster.

Layout (``<x>`` is :func:`escape` applied to ``x``)::

    {prefix}:{pN}:meta                         hash: epoch, applied, applied_token,
                                               plus processor fields (leader, egress)
    {prefix}:{pN}:active                       hash: invocation id -> 1 (not completed)
    {prefix}:{pN}:outbox                       hash: digest -> cross-partition record
    {prefix}:{pN}:timers                       zset: timer blob, score = due ms
    {prefix}:{pN}:cron                         hash: cron job id -> job state blob
    {prefix}:{pN}:egress                       hash: log position -> Kafka egress record
    {prefix}:{pN}:dlq                          hash: digest -> pending dead letter
    {prefix}:{pN}:history                      zset: completed invocation id, score =
                                               completion ms (newest-first listing)
    {prefix}:{pN}:history_expiry               zset: the same ids, score = ms when the
                                               status expires (trimming the history)
    {prefix}:{pN}:inv:<invocation id>          string: invocation status blob
    {prefix}:{pN}:journal:<invocation id>      list: journal entry blobs
    {prefix}:{pN}:lock:<service>/<key>         string: id of the invocation holding the key
    {prefix}:{pN}:inbox:<service>/<key>        list: invocation ids waiting for the key
    {prefix}:{pN}:state:<service>/<key>        hash: K/V state of a virtual object
    {prefix}:{pN}:promise:<service>/<key>      hash: durable promises of a workflow

Service names, object keys and ids are user input (URL-decoded path segments,
Kafka record keys) and may hold any character. They are percent-encoded
(RFC 3986 unreserved characters stay as they are, everything else becomes
``%XX`` of its UTF-8 bytes), which

* keeps ``{`` and ``}`` out of the key, so nothing a user sends can move a key
  out of its partition's slot (the prefix itself is restricted to
  ``[A-Za-z0-9._-]``, so the first ``{...}`` is always ours);
* encodes ``/``, so ``("a/b", "c")`` and ``("a", "b/c")`` stay distinct keys;
* keeps ids and ordinary names readable (``Counter/alice`` is unchanged);
* keeps SCAN patterns free of user-supplied glob characters.
"""

from __future__ import annotations

import enum
import re
from urllib.parse import quote, unquote

__all__ = [
    "META_APPLIED",
    "META_APPLIED_TOKEN",
    "META_EPOCH",
    "META_LEADER",
    "KeyKind",
    "PartitionKeys",
    "escape",
    "unescape",
]

META_EPOCH = "epoch"
"""Meta hash field: the partition's fencing epoch, incremented by every new owner."""
META_APPLIED = "applied"
"""Meta hash field: offset of the last rt.log record applied (absent: none applied)."""
META_LEADER = "leader"
"""Meta hash field: the epoch of the last owner whose ``AnnounceLeader`` was applied."""
META_APPLIED_TOKEN = "applied_token"  # noqa: S105 - a field name, not a secret
"""Meta hash field: token of the ``apply`` call that wrote ``applied`` (lost-reply detection)."""

_PREFIX_OK = re.compile(r"[A-Za-z0-9._-]+\Z")


class KeyKind(enum.StrEnum):
    """The families of per-invocation and per-object keys, as they appear in the key."""

    INV = "inv"
    JOURNAL = "journal"
    LOCK = "lock"
    INBOX = "inbox"
    STATE = "state"
    PROMISE = "promise"


_INVOCATION_KINDS = frozenset({KeyKind.INV, KeyKind.JOURNAL})


def escape(part: str) -> str:
    r"""Percent-encode one user-supplied key component. NEVER CHANGE.

    Injective over all Python strings (lone surrogates included), so distinct
    inputs never share a key; the output is ASCII and holds none of
    ``{ } / : * ? [ ] \``.

    Args:
        part: A service name, object key or invocation id.

    Returns:
        The component as it appears in Redis keys.

    Example:
        >>> escape("a/b{1}")
        'a%2Fb%7B1%7D'
    """
    if _PLAIN.fullmatch(part):  # ids and most names: nothing to escape (a hot path)
        return part
    return quote(part, safe="", errors="surrogatepass")


_PLAIN = re.compile(r"[A-Za-z0-9_.~-]*")
"""What ``quote(..., safe="")`` leaves unchanged."""


def unescape(part: str) -> str:
    """Invert :func:`escape`.

    Args:
        part: A component taken from a key.

    Returns:
        The original service name, object key or id.
    """
    return unquote(part, errors="surrogatepass")


class PartitionKeys:
    """The Redis keys of one partition, all in the slot of its hash tag ``{pN}``.

    Construction validates the prefix once; every key is then a cheap string
    concatenation, as the processor builds several per applied record.

    Args:
        prefix: The cluster's key prefix (``Settings.topic_prefix``), ``[A-Za-z0-9._-]+``.
        partition: The rt.log partition, ``>= 0``.

    Raises:
        ValueError: On a prefix with other characters, or a negative partition.

    Example:
        >>> k = PartitionKeys("rt", 7)
        >>> k.meta
        'rt:{p7}:meta'
        >>> k.state("Counter", "a/b")
        'rt:{p7}:state:Counter/a%2Fb'
    """

    __slots__ = (
        "_active",
        "_base",
        "_cron",
        "_dlq",
        "_egress",
        "_history",
        "_history_expiry",
        "_meta",
        "_outbox",
        "_partition",
        "_prefix",
        "_timers",
    )

    def __init__(self, prefix: str, partition: int) -> None:
        if not _PREFIX_OK.match(prefix):
            raise ValueError(f"key prefix must match [A-Za-z0-9._-]+, got {prefix!r}")
        if partition < 0:
            raise ValueError(f"partition must be >= 0, got {partition}")
        self._prefix = prefix
        self._partition = partition
        self._base = f"{prefix}:{{p{partition}}}:"
        self._meta = self._base + "meta"
        self._active = self._base + "active"
        self._outbox = self._base + "outbox"
        self._timers = self._base + "timers"
        self._cron = self._base + "cron"
        self._egress = self._base + "egress"
        self._dlq = self._base + "dlq"
        self._history = self._base + "history"
        self._history_expiry = self._base + "history_expiry"

    def __repr__(self) -> str:
        return f"PartitionKeys({self._prefix!r}, {self._partition})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PartitionKeys) and other._base == self._base

    def __hash__(self) -> int:
        return hash(self._base)

    @property
    def prefix(self) -> str:
        """The cluster's key prefix."""
        return self._prefix

    @property
    def partition(self) -> int:
        """The partition these keys belong to."""
        return self._partition

    @property
    def base(self) -> str:
        """``{prefix}:{pN}:``, the start of every key of the partition."""
        return self._base

    @property
    def hash_tag(self) -> str:
        """The Redis Cluster hash tag content, ``pN``."""
        return f"p{self._partition}"

    @property
    def meta(self) -> str:
        """Hash: fencing epoch, applied offset and apply token, plus processor fields."""
        return self._meta

    @property
    def active(self) -> str:
        """Hash: ids of the partition's invocations not yet completed (recovery index)."""
        return self._active

    @property
    def outbox(self) -> str:
        """Hash: records for other partitions, kept until produced (re-sent on take-over)."""
        return self._outbox

    @property
    def timers(self) -> str:
        """Sorted set: timer blobs scored by due time in epoch milliseconds."""
        return self._timers

    @property
    def cron(self) -> str:
        """Hash: cron job id -> job state (definition, generation, next tick)."""
        return self._cron

    @property
    def egress(self) -> str:
        """Hash: Kafka egress records applied but not yet written (field = log position)."""
        return self._egress

    @property
    def dlq(self) -> str:
        """Hash: dead letters of failed subscription invocations, kept until produced."""
        return self._dlq

    @property
    def history(self) -> str:
        """Sorted set: ids of completed invocations still retained, scored by completion
        time in epoch milliseconds (the history the admin API lists, newest first)."""
        return self._history

    @property
    def history_expiry(self) -> str:
        """Sorted set: the ids of :attr:`history`, scored by when each one's status
        expires (epoch ms); the apply trims both sets from here."""
        return self._history_expiry

    def inv(self, invocation_id: str) -> str:
        """String: the status blob of an invocation."""
        return f"{self._base}inv:{escape(invocation_id)}"

    def journal(self, invocation_id: str) -> str:
        """List: the journal entry blobs of an invocation, in order."""
        return f"{self._base}journal:{escape(invocation_id)}"

    def lock(self, service: str, key: str) -> str:
        """String: the id of the invocation holding the (service, key) lock."""
        return f"{self._base}lock:{escape(service)}/{escape(key)}"

    def inbox(self, service: str, key: str) -> str:
        """List: ids of invocations waiting for the (service, key) lock, oldest first."""
        return f"{self._base}inbox:{escape(service)}/{escape(key)}"

    def state(self, service: str, key: str) -> str:
        """Hash: the K/V state of a virtual object or workflow instance."""
        return f"{self._base}state:{escape(service)}/{escape(key)}"

    def promise(self, service: str, key: str) -> str:
        """Hash: the durable promises of a workflow instance."""
        return f"{self._base}promise:{escape(service)}/{escape(key)}"

    def kind_prefix(self, kind: KeyKind | str) -> str:
        """The common start of every key of one kind, e.g. ``rt:{p7}:inv:``.

        Raises:
            ValueError: If ``kind`` is not a :class:`KeyKind`.
        """
        return f"{self._base}{KeyKind(kind).value}:"

    def invocation_id_of(self, key: str | bytes) -> str:
        """The invocation id of an ``inv:`` or ``journal:`` key of this partition.

        Raises:
            ValueError: If ``key`` is not such a key.
        """
        kind, rest = self._split(key)
        if kind not in _INVOCATION_KINDS:
            raise ValueError(f"not an invocation key of {self!r}: {key!r}")
        return unescape(rest)

    def object_of(self, key: str | bytes) -> tuple[str, str]:
        """The (service, key) of a ``lock:``, ``inbox:``, ``state:`` or ``promise:`` key.

        Raises:
            ValueError: If ``key`` is not such a key.
        """
        kind, rest = self._split(key)
        service, sep, obj = rest.partition("/")
        if kind in _INVOCATION_KINDS or not sep or "/" in obj:
            raise ValueError(f"not an object key of {self!r}: {key!r}")
        return unescape(service), unescape(obj)

    def _split(self, key: str | bytes) -> tuple[KeyKind, str]:
        text = key.decode("ascii") if isinstance(key, bytes) else key
        if not text.startswith(self._base):
            raise ValueError(f"not a key of {self!r}: {key!r}")
        kind, _, rest = text[len(self._base) :].partition(":")
        try:
            return KeyKind(kind), rest
        except ValueError:
            raise ValueError(f"not a per-invocation or per-object key: {key!r}") from None
