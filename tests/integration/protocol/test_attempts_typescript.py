"""Attempts on the real TypeScript SDK (@restatedev/restate-sdk on Node.js, h2c)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from runtime.protocol import (
    NewEntries,
    RemoteEndpoint,
    RunProposal,
    Suspended,
    Timeouts,
    discover,
)
from runtime.protocol.progress import Ended
from sdk.engine import (
    Completion,
    GetStateCommand,
    InputCommand,
    OutputCommand,
    RunCommand,
    SetStateCommand,
    SleepCommand,
    Value,
    Void,
)
from tests.integration.protocol.conftest import journal_of, run_attempt, start_of
from tests.integration.protocol.endpoints import EndpointProcess


@pytest.fixture
async def js(node_h2: EndpointProcess) -> AsyncIterator[RemoteEndpoint]:
    found = await discover(node_h2.uri)
    timeouts = Timeouts(inactivity=timedelta(milliseconds=500), abort=timedelta(seconds=5))
    async with RemoteEndpoint.from_discovery(found, timeouts=timeouts) as endpoint:
        assert endpoint.protocol_version == 7
        yield endpoint


async def test_js_greeter_ends(js: RemoteEndpoint) -> None:
    progress = await run_attempt(js, start_of("JsGreeter", "greet", input=b'"Ada"'))

    output = OutputCommand(result=Value(b'"Hello Ada from JS"'))
    assert progress == [
        NewEntries((InputCommand(body=b'"Ada"'),), position=0),
        NewEntries((output,), position=1),
        Ended(output),
    ]


async def test_js_runs_are_proposed_and_acked(js: RemoteEndpoint) -> None:
    start = start_of("JsGreeter", "twice", input=b"3")
    progress = await run_attempt(js, start)

    proposals = [p for p in progress if isinstance(p, RunProposal)]
    assert [p.completion for p in proposals] == [
        Completion(1, Value(b"6")),
        Completion(2, Value(b"12")),
    ]
    assert all(p.requested_ack for p in proposals)
    assert progress[-1] == Ended(OutputCommand(result=Value(b"12")))
    assert journal_of(start, progress)[1:3] == [
        RunCommand(name="double"),
        Completion(1, Value(b"6")),
    ]


async def test_js_object_with_eager_state(js: RemoteEndpoint) -> None:
    start = start_of("JsCounter", "add", key="j1", input=b"2", state={"count": b"40"})
    progress = await run_attempt(js, start)

    assert journal_of(start, progress)[1:] == [
        GetStateCommand(key="count"),
        Completion(1, Value(b"40")),
        SetStateCommand(key="count", value=b"42"),
        OutputCommand(result=Value(b"42")),
    ]
    assert progress[-1] == Ended(OutputCommand(result=Value(b"42")))


async def test_js_sleep_suspends_and_replays_to_the_end(js: RemoteEndpoint) -> None:
    start = start_of("JsSleeper", "nap", input=b"60000")
    first = await run_attempt(js, start)

    assert isinstance(first[1].entries[0], SleepCommand)  # type: ignore[union-attr]
    assert isinstance(first[-1], Suspended) and first[-1].awaiting == {1}

    journal = [*journal_of(start, first), Completion(1, Void())]
    second = await run_attempt(
        js, start_of("JsSleeper", "nap", journal=journal, invocation_id=start.invocation_id)
    )
    assert second[-1] == Ended(OutputCommand(result=Value(b'"slept 60000"')))
