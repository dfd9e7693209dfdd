"""Attempts on the real Python SDK (restate-sdk 1.2.0): h2c streaming and HTTP/1.1.

Each test drives what rt's invoker will: open an attempt, append what it yields,
answer with notifications and acks, and start the next attempt from the journal.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from runtime.protocol import (
    AttemptFailed,
    EndpointResponseError,
    ErrorBehavior,
    NewEntries,
    ProtocolMode,
    RemoteAttempt,
    RemoteEndpoint,
    RunProposal,
    Signal,
    Suspended,
    Timeouts,
    discover,
    signal_awakeable_id,
)
from runtime.protocol.progress import Ended
from sdk.engine import (
    CallCommand,
    CompleteAwakeableCommand,
    Completion,
    GetStateCommand,
    InputCommand,
    OutputCommand,
    RunCommand,
    SendCommand,
    SetStateCommand,
    SleepCommand,
    Value,
    Void,
)
from tests.integration.protocol.conftest import FAST, journal_of, run_attempt, start_of
from tests.integration.protocol.endpoints import EndpointProcess

QUICK = Timeouts(inactivity=FAST, abort=timedelta(seconds=5))


@pytest.fixture
async def bidi(python_h2: EndpointProcess) -> AsyncIterator[RemoteEndpoint]:
    async with RemoteEndpoint(python_h2.uri, protocol_version=7, timeouts=QUICK) as endpoint:
        yield endpoint


@pytest.fixture
async def request_response(python_http11: EndpointProcess) -> AsyncIterator[RemoteEndpoint]:
    found = await discover(python_http11.uri, use_http_11=True)
    async with RemoteEndpoint.from_discovery(found, timeouts=QUICK) as endpoint:
        assert endpoint.mode is ProtocolMode.REQUEST_RESPONSE
        yield endpoint


@pytest.mark.parametrize("version", [5, 6, 7])
async def test_greeter_input_then_output_and_end(python_h2: EndpointProcess, version: int) -> None:
    async with RemoteEndpoint(python_h2.uri, protocol_version=version) as endpoint:
        progress = await run_attempt(endpoint, start_of("Greeter", "greet", input=b'"Ada"'))

    output = OutputCommand(result=Value(b'"Hello Ada"'))
    assert progress == [
        NewEntries((InputCommand(body=b'"Ada"'),), position=0),
        NewEntries((output,), position=1),
        Ended(output),
    ]


async def test_greeter_over_http11_request_response(request_response: RemoteEndpoint) -> None:
    progress = await run_attempt(request_response, start_of("Greeter", "greet", input=b'"Bo"'))

    assert progress[-1] == Ended(OutputCommand(result=Value(b'"Hello Bo"')))


@pytest.mark.parametrize("version", [5, 6, 7])
async def test_a_run_waits_for_its_ack_before_the_handler_goes_on(
    python_h2: EndpointProcess, version: int
) -> None:
    async with RemoteEndpoint(python_h2.uri, protocol_version=version) as endpoint:
        attempt = await RemoteAttempt.open(endpoint, start_of("Runner", "double_twice", input=b"5"))
        seen: asyncio.Queue[object] = asyncio.Queue()

        async def read() -> None:
            async for item in attempt:
                await seen.put(item)

        reader = asyncio.create_task(read())
        try:
            assert await seen.get() == NewEntries((InputCommand(body=b"5"),), position=0)
            assert await seen.get() == NewEntries((RunCommand(name="first"),), position=1)
            proposal = await seen.get()
            assert isinstance(proposal, RunProposal)
            assert proposal.completion == Completion(1, Value(b"10"))
            assert proposal.requested_ack is (version >= 7)
            await asyncio.sleep(0.3)
            assert seen.empty(), "the handler went past ctx.run before the result was durable"
            assert await attempt.ack(proposal)
            assert await seen.get() == NewEntries((RunCommand(name="second"),), position=3)
            second = await seen.get()
            assert isinstance(second, RunProposal) and second.result == Value(b"20")
            await attempt.ack(second)
            assert await seen.get() == NewEntries((OutputCommand(result=Value(b"20")),), position=5)
            assert await seen.get() == Ended(OutputCommand(result=Value(b"20")))
            await asyncio.wait_for(reader, 5)
        finally:
            reader.cancel()
            await attempt.close()
        assert attempt.journal_length == 6


async def test_a_replayed_run_result_is_not_run_again(bidi: RemoteEndpoint) -> None:
    journal = [InputCommand(body=b"5"), RunCommand(name="first"), Completion(1, Value(b"99"))]
    progress = await run_attempt(bidi, start_of("Runner", "double_twice", journal=journal))

    proposal = progress[1]
    assert progress[0] == NewEntries((RunCommand(name="second"),), position=3)
    assert isinstance(proposal, RunProposal) and proposal.result == Value(b"198")
    assert progress[-1] == Ended(OutputCommand(result=Value(b"198")))


async def test_eager_state_is_read_without_a_round_trip(bidi: RemoteEndpoint) -> None:
    start = start_of("Counter", "add", key="c1", input=b"3", state={"count": b"4"})
    progress = await run_attempt(bidi, start)

    assert progress[1] == NewEntries(
        (
            GetStateCommand(key="count"),
            Completion(1, Value(b"4")),
            SetStateCommand(key="count", value=b"7"),
            OutputCommand(result=Value(b"7")),
        ),
        position=1,
    )
    replayed = await run_attempt(
        bidi,
        start_of(
            "Counter", "add", key="c1", journal=journal_of(start, progress), state={"count": b"7"}
        ),
    )
    assert replayed == [Ended(OutputCommand(result=Value(b"7")))]


async def test_absent_key_in_eager_state_reads_as_void(bidi: RemoteEndpoint) -> None:
    progress = await run_attempt(bidi, start_of("Counter", "add", key="c2", input=b"2", state={}))

    assert Completion(1, Void()) in progress[1].entries  # type: ignore[union-attr]
    assert progress[-1] == Ended(OutputCommand(result=Value(b"2")))


async def test_lazy_state_is_completed_by_the_runtime(bidi: RemoteEndpoint) -> None:
    start = start_of("LazyCounter", "bump", key="l1", input=b"3", state=None)
    attempt = await RemoteAttempt.open(bidi, start)
    progress = []
    async for item in attempt:
        progress.append(item)
        if item == NewEntries((GetStateCommand(key="count"),), position=1):
            assert await attempt.notify([Completion(1, Value(b"10"))])
    await attempt.close()

    assert progress[-2:] == [
        NewEntries(
            (SetStateCommand(key="count", value=b"13"), OutputCommand(result=Value(b"13"))),
            position=3,
        ),
        Ended(OutputCommand(result=Value(b"13"))),
    ]


async def test_lazy_state_in_request_response_suspends_then_replays(
    request_response: RemoteEndpoint,
) -> None:
    start = start_of("LazyCounter", "bump", key="l2", input=b"1", state=None)
    first = await run_attempt(request_response, start)
    assert first[-1] == Suspended(
        awaiting=frozenset({1}),
        signals=frozenset({1}),
        awaiting_on=first[-1].awaiting_on,  # type: ignore[union-attr]
    )

    journal = [*journal_of(start, first), Completion(1, Void())]
    second = await run_attempt(
        request_response, start_of("LazyCounter", "bump", key="l2", journal=journal, state=None)
    )
    assert second[-1] == Ended(OutputCommand(result=Value(b"1")))


async def test_sleep_in_request_response_suspends_then_a_new_attempt_ends(
    request_response: RemoteEndpoint,
) -> None:
    start = start_of("Sleeper", "nap", input=b"50")
    first = await run_attempt(request_response, start)

    sleep = first[1].entries[0]  # type: ignore[union-attr]
    assert isinstance(sleep, SleepCommand) and sleep.name == "nap"
    suspended = first[-1]
    assert isinstance(suspended, Suspended)
    assert suspended.awaiting == {1} and not suspended.ready
    assert 1 in suspended.signals  # cancellation always counts

    journal = [*journal_of(start, first), Completion(1, Void())]
    second = await run_attempt(
        request_response,
        start_of("Sleeper", "nap", journal=journal, invocation_id=start.invocation_id),
    )
    assert second == [
        NewEntries((OutputCommand(result=Value(b'"slept 50"')),), position=3),
        Ended(OutputCommand(result=Value(b'"slept 50"'))),
    ]


async def test_a_call_suspends_then_resumes_with_the_callee_result(
    request_response: RemoteEndpoint,
) -> None:
    start = start_of("Caller", "call_greeter", input=b'"Cy"')
    first = await run_attempt(request_response, start)

    call = first[1].entries[0]  # type: ignore[union-attr]
    assert isinstance(call, CallCommand)
    assert (call.service, call.handler, call.key, call.param) == ("Greeter", "greet", None, b'"Cy"')
    assert call.invocation_id == start.callee_ids(  # the id rt derives, not one the SDK made
        __import__("runtime.protocol", fromlist=["CalleeRef"]).CalleeRef(
            1, "Greeter", "greet", None, None
        )
    )
    assert first[-1].awaiting == {1}  # type: ignore[union-attr]

    journal = [*journal_of(start, first), Completion(1, Value(b'"Hello Cy"'))]
    second = await run_attempt(
        request_response,
        start_of("Caller", "call_greeter", journal=journal, invocation_id=start.invocation_id),
    )
    send = second[0].entries[0]  # type: ignore[union-attr]
    assert isinstance(send, SendCommand) and send.param == b'"Cy (sent)"'
    assert second[-1] == Ended(OutputCommand(result=Value(b'"Greeter said: Hello Cy"')))


async def test_a_call_in_streaming_mode_continues_in_the_same_attempt(bidi: RemoteEndpoint) -> None:
    start = start_of("Caller", "call_greeter", input=b'"Di"')
    attempt = await RemoteAttempt.open(bidi, start)
    progress = []
    async for item in attempt:
        progress.append(item)
        if isinstance(item, NewEntries) and isinstance(item.entries[0], CallCommand):
            await attempt.notify([Completion(1, Value(b'"Hello Di"'))])
    await attempt.close()

    assert progress[-1] == Ended(OutputCommand(result=Value(b'"Greeter said: Hello Di"')))


async def test_an_awakeable_suspends_on_its_signal_and_resumes_when_it_arrives(
    bidi: RemoteEndpoint,
) -> None:
    start = start_of("Waiter", "wait_for_approval", key="w1", state={})
    first = await run_attempt(bidi, start)

    awakeable_id = signal_awakeable_id(start.invocation_id, 17)
    assert first[1] == NewEntries(
        (SetStateCommand(key="awakeable", value=f'"{awakeable_id}"'.encode()),), position=1
    )
    suspended = first[-1]
    assert isinstance(suspended, Suspended)
    assert suspended.signals == {17, 1} and suspended.awaiting == set()

    journal = [*journal_of(start, first), Signal(index=17, result=Value(b'"the board"'))]
    second = await run_attempt(
        bidi,
        start_of(
            "Waiter",
            "wait_for_approval",
            key="w1",
            journal=journal,
            state={},
            invocation_id=start.invocation_id,
        ),
    )
    assert second[-1] == Ended(OutputCommand(result=Value(b'"approved by the board"')))

    resolver = await run_attempt(
        bidi, start_of("Waiter", "approve", key="w2", input=f'"{awakeable_id}"'.encode(), state={})
    )
    assert resolver[1].entries[0] == CompleteAwakeableCommand(  # type: ignore[union-attr]
        id=awakeable_id, result=Value(b'"the board"')
    )


async def test_a_journal_that_does_not_match_the_code_fails_with_570(bidi: RemoteEndpoint) -> None:
    journal = [InputCommand(body=b"1"), RunCommand(name="not what the handler does")]
    progress = await run_attempt(
        bidi, start_of("Counter", "add", key="m1", journal=journal, state={})
    )

    failed = progress[-1]
    assert isinstance(failed, AttemptFailed)
    assert failed.code == 570
    assert failed.command_index == 1
    assert failed.behavior is ErrorBehavior.RETRY


async def test_a_failing_handler_reports_a_retryable_error(bidi: RemoteEndpoint) -> None:
    progress = await run_attempt(bidi, start_of("Greeter", "fail", input=b'"boom"'))

    failed = progress[-1]
    assert isinstance(failed, AttemptFailed)
    assert failed.code == 500
    assert "transient: boom" in failed.message
    assert "RuntimeError" in failed.stacktrace
    assert failed.behavior is ErrorBehavior.RETRY


async def test_a_terminal_error_is_a_failed_output_and_an_end(bidi: RemoteEndpoint) -> None:
    progress = await run_attempt(bidi, start_of("Greeter", "fail_terminally", input=b'"no"'))

    from sdk.engine import Failure

    output = OutputCommand(result=Failure(code=422, message="refused: no"))
    assert progress[-2:] == [NewEntries((output,), position=1), Ended(output)]


async def test_an_unknown_handler_is_a_404(bidi: RemoteEndpoint) -> None:
    with pytest.raises(EndpointResponseError, match="does not serve this handler") as e:
        await run_attempt(bidi, start_of("Greeter", "nope", input=b'"x"'))
    assert e.value.status == 404


async def test_inactivity_asks_a_waiting_handler_to_suspend(bidi: RemoteEndpoint) -> None:
    start = start_of(
        "Sleeper", "nap", input=b"60000", inactivity_timeout=timedelta(milliseconds=300)
    )
    loop = asyncio.get_running_loop()
    began = loop.time()
    progress = await run_attempt(bidi, start)

    assert isinstance(progress[-1], Suspended) and progress[-1].awaiting == {1}
    assert loop.time() - began < 3


async def test_the_cancel_signal_ends_a_waiting_handler_with_409(bidi: RemoteEndpoint) -> None:
    from sdk.engine import CancelSignal, Failure

    attempt = await RemoteAttempt.open(bidi, start_of("Sleeper", "nap", input=b"600000"))
    progress = []
    async for item in attempt:
        progress.append(item)
        if isinstance(item, NewEntries) and isinstance(item.entries[0], SleepCommand):
            assert await attempt.notify([CancelSignal()])
    await attempt.close()

    output = progress[-1]
    assert isinstance(output, Ended) and output.output is not None
    assert isinstance(output.output.result, Failure) and output.output.result.code == 409
    assert attempt.journal_length == 4  # Input, Sleep, CancelSignal, Output
