"""The contract between a partition and the invokers that run its attempts.

The partition machine decides *when* an attempt of an invocation starts, is fed
a notification, may observe its ``ctx.run`` results, stops; an invoker decides
*how* the handler runs (in this process, or on a registered HTTP endpoint).
They meet here:

- :class:`Invoker` — what the partition asks of an invoker;
- :class:`AttemptHost` — what an invoker may ask of the partition that started
  an attempt: append the attempt's records, read its journal and its object's
  state, answer callers as soon as an output is durable, offer a speculation;
- :class:`Attempt` — one attempt as it is handed over.

Nothing here assumes the handler runs in this process: journal entries travel
as encoded bytes, state as ``dict[str, bytes]``. An invoker calls its host and
returns; a host never calls back into the invoker while the invoker is calling
it. Owns these types only; no behaviour.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Protocol

import msgspec

from runtime.log import records
from runtime.partition.status import Outcome


class Attempt(msgspec.Struct, frozen=True):
    """One attempt of an invocation, as the partition hands it to an invoker."""

    invocation_id: str
    number: int
    """The attempt number: its records carry it; records of other attempts are ignored."""
    target: records.Target
    headers: dict[str, str]
    idempotency_key: str | None = None
    retry_count: int = 0
    """Attempts that failed before this one (for the retry policy's backoff)."""
    journal: list[bytes] | None = None
    """The journal so far (encoded entries), or None: read it with
    :meth:`AttemptHost.load_journal`."""
    state: dict[str, bytes] | None = None
    """Speculative attempts only: the state to run on (the lock holder's final state)."""
    after: tuple[str, int] | None = None
    """Speculative attempts only (ADR 0013): (invocation id, attempt) of the lock holder
    whose clean end this attempt assumes. Until the partition adopts it, the attempt
    holds its ``ctx.run`` actions, gives no early answer and is never evicted."""
    deployment: str | None = None
    """The deployment the invocation is pinned to, or None: the invoker runs it on the newest
    deployment serving its handler and pins that one with the attempt's first entries
    (``records.PinDeployment``)."""

    @property
    def object_key(self) -> tuple[str, str] | None:
        """(service, key) for keyed targets."""
        key = self.target.key
        return None if key is None else (self.target.service, key)


class AttemptHost(Protocol):
    """What an invoker may ask of the partition that started an attempt."""

    @property
    def epoch(self) -> int:
        """The partition owner's epoch: every record an attempt appends carries it."""
        ...

    def append(self, record: records.Record) -> asyncio.Future[int]:
        """Append a record of the attempt (journal entries, suspension, failure) to the
        partition's log; the future resolves once it is durable."""
        ...

    async def load_journal(self, invocation_id: str) -> list[bytes]:
        """The invocation's journal as applied (encoded entries, in order)."""
        ...

    async def object_state(self, service: str, key: str) -> Mapping[str, bytes]:
        """The applied state of an object (do not modify the mapping)."""
        ...

    def answer_early(self, invocation_id: str, outcome: Outcome) -> None:
        """The attempt's output is durable in the log: answer the waiting callers now
        (the partition answers again when it applies the output; callers see one)."""
        ...

    def offer_speculation(
        self, invocation_id: str, attempt: int, state: dict[str, bytes]
    ) -> Attempt | None:
        """The exclusive attempt returned and appended its end with ``state``: the next
        call of its key the invoker may start now (speculatively), if any (ADR 0013)."""
        ...

    def speculation_started(self, attempt: Attempt) -> None:
        """The invoker runs the offered attempt: the partition adopts or drops it."""
        ...


class Invoker(Protocol):
    """What the partition asks of whoever runs its attempts."""

    def start(self, host: AttemptHost, attempt: Attempt) -> None:
        """Run ``attempt`` (replacing any attempt of the invocation still running)."""
        ...

    def notify(self, invocation_id: str, attempt: int, entries: list[bytes]) -> bool:
        """Feed applied notifications to a live attempt; False if none is live."""
        ...

    def applied(self, invocation_id: str, attempt: int, journal_len: int) -> None:
        """The attempt's entries up to ``journal_len`` are durable and applied."""
        ...

    def abort(self, invocation_id: str) -> None:
        """Stop whatever attempt of the invocation runs."""
        ...

    def speculate(self, host: AttemptHost, attempt: Attempt) -> bool:
        """Start a speculative attempt (``attempt.after`` set); False if not now."""
        ...

    def adopt(self, invocation_id: str, attempt: int) -> dict[str, bytes] | None:
        """The speculative attempt is now the real one; if it has already ended, the
        state it ended with (to speculate on the next one)."""
        ...

    def abort_attempt(self, invocation_id: str, attempt: int) -> None:
        """Stop ``attempt`` of the invocation if that attempt is the live one."""
        ...
