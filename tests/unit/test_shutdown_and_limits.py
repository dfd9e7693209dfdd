"""Bounded shutdown and the payload limit, without I/O: waiting callers are released, one
setting sizes every limit, and the invoker refuses journal entries over it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import ValidationError

import sdk as restate
from runtime.invoker.inprocess import ENTRY_HEADROOM_BYTES, InProcessInvoker
from runtime.invoker.services import registry_from_sdk
from runtime.log.topics import DEFAULT_MAX_RECORD_BYTES
from runtime.responses import ListenerStopped, ResponseListener
from runtime.serving import release_waiters
from runtime.settings import Settings
from sdk import Context
from sdk import _journal as sj

svc = restate.Service("Sized")


@svc.handler()
async def noop(ctx: Context) -> None:
    return None


async def test_abandon_fails_every_waiting_caller_once() -> None:
    listener = ResponseListener(None, "rt")  # type: ignore[arg-type] # never started: no I/O
    _, first = listener.expect()
    _, second = listener.expect()
    assert listener.waiting == 2
    assert listener.abandon() == 2
    for fut in (first, second):
        with pytest.raises(ListenerStopped):
            fut.result()
    assert listener.waiting == 0
    assert listener.abandon() == 0


class _Waiters:
    def __init__(self, waiting: int) -> None:
        self.n = waiting
        self.abandoned = 0

    @property
    def waiting(self) -> int:
        return self.n

    def abandon(self) -> int:
        self.abandoned, self.n = self.n, 0
        return self.abandoned


async def test_waiting_callers_get_a_share_of_the_bound_then_are_answered() -> None:
    settings = Settings(shutdown_timeout_s=0.6)
    stuck = _Waiters(3)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await release_waiters(stuck, settings)
    assert 0.15 <= loop.time() - t0 < 0.5  # a third of the bound
    assert stuck.abandoned == 3

    answered = _Waiters(1)
    loop.call_later(0.05, setattr, answered, "n", 0)  # its answer arrives in time
    t0 = loop.time()
    await release_waiters(answered, Settings(shutdown_timeout_s=30))
    assert loop.time() - t0 < 1 and answered.abandoned == 0


def test_one_setting_sizes_the_records() -> None:
    s = Settings()
    assert s.shutdown_timeout_s == 30
    assert s.max_payload_bytes == 10 << 20
    assert s.log_record_limit == DEFAULT_MAX_RECORD_BYTES  # what topics are created with
    assert Settings(max_payload_bytes=2 << 20).log_record_limit == 3 << 20
    with pytest.raises(ValidationError):
        Settings(max_payload_bytes=65 << 20)  # beyond what one fetch response may hold
    with pytest.raises(ValidationError):
        Settings(shutdown_timeout_s=0)


def _invoker(**settings: Any) -> InProcessInvoker:
    return InProcessInvoker([svc], registry_from_sdk([svc]), Settings(**settings))


def test_an_entry_over_the_payload_limit_is_named_with_the_limit() -> None:
    invoker = _invoker(max_payload_bytes=64 << 10)
    fits = sj.encode_entry(sj.SetStateCommand(key="k", value=b"x" * (64 << 10)))
    assert invoker.oversized([fits]) is None
    too_big = sj.encode_entry(
        sj.Completion(command_index=1, result=sj.Value(b"y" * ((128 << 10) + 1)))
    )
    why = invoker.oversized([fits, too_big])
    assert why is not None
    assert why.startswith("a ctx.run result of ")
    assert "max_payload_bytes = 65536 bytes" in why
    state = sj.encode_entry(sj.SetStateCommand(key="k", value=b"x" * (200 << 10)))
    assert (invoker.oversized([state]) or "").startswith("a state value of ")
    assert invoker.max_entry_bytes == (64 << 10) + ENTRY_HEADROOM_BYTES
