"""The durable timer record: what the timers sorted set holds and ``TimerFired`` carries.

A partition format: the machine writes a timer (ZADD) in the apply of the record
that arms it and takes it (ZREM) in the apply of its ``TimerFired``; the timer
wheel (``runtime.timers``) only fires what is due. Owns the record and its
encoding (NEVER CHANGE: the encoding is the timer's identity); no behaviour.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec


class TimerKind(StrEnum):
    """What a durable timer does when it fires. NEVER CHANGE a value (stored in Redis and
    carried in ``TimerFired``; ``tests/unit/test_wire_enums.py`` pins them)."""

    SLEEP = "sleep"
    RETRY = "retry"
    SCHEDULED = "scheduled"
    RETENTION = "retention"
    CRON = "cron"


class Timer(msgspec.Struct, frozen=True, array_like=True):
    """A durable timer: NEVER CHANGE (stored in Redis, carried in TimerFired).

    Its encoding is its identity: the same timer always encodes to the same
    bytes, so a re-added timer is the same sorted-set member.

    Kinds and the meaning of the fields:

    * ``sleep``: ``ctx.sleep`` of ``invocation_id``, command ``index``.
    * ``retry``: the next attempt of ``invocation_id`` after attempt ``attempt`` failed.
    * ``scheduled``: a delayed invocation enters its key's queue.
    * ``retention``: an invocation's retention ends.
    * ``cron``: a tick of cron job ``invocation_id`` (the job id) due at ``index``
      (epoch ms), for the job's definition generation ``attempt``.
    """

    kind: TimerKind
    """Encoded as its string value; decoding accepts exactly the values rt has ever written."""
    invocation_id: str
    index: int = -1
    attempt: int = 0


timer_encoder = msgspec.msgpack.Encoder()
timer_decoder = msgspec.msgpack.Decoder(Timer)
