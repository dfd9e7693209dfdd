"""rt's own SDK as a Restate service endpoint, driven by rt's protocol client (ADR 0021).

``tests.unit.sdk.served:app`` (an ``sdk.app``) runs under a real hypercorn (HTTP/2
cleartext, bidirectional streaming) and a real uvicorn (HTTP/1.1, request/response)
in child processes; ``runtime.protocol`` discovers it and runs attempts on it the way
rt's HTTP-endpoint invoker does: append what an attempt yields, answer with
notifications and acks, start the next attempt from the journal.
"""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from runtime.protocol import (
    AttemptFailed,
    AttemptProgress,
    CalleeRef,
    DiscoveryResponseError,
    EndpointResponseError,
    NewEntries,
    ProtocolMode,
    RemoteAttempt,
    RemoteEndpoint,
    RunProposal,
    Signal,
    Suspended,
    Timeouts,
    discover,
)
from runtime.protocol.progress import Ended
from sdk.engine import (
    CallCommand,
    Completion,
    Failure,
    GetStateCommand,
    InputCommand,
    JournalEntry,
    OutputCommand,
    RunCommand,
    SendCommand,
    SetStateCommand,
    SleepCommand,
    Value,
    Void,
)
from sdk.pipelines import Window
from sdk.protocol import IdentitySigner
from tests.integration.protocol.conftest import journal_of, run_attempt, start_of
from tests.integration.protocol.endpoints import ROOT, EndpointProcess, _python_env, _start

APP = "tests.unit.sdk.served:app"
QUICK = Timeouts(inactivity=timedelta(seconds=1), abort=timedelta(seconds=5))
SIGNER = IdentitySigner.generate()


def _hypercorn(tmp: Path, env: dict[str, str] | None = None) -> EndpointProcess:
    config = tmp / "hypercorn.toml"
    config.write_text('bind = "127.0.0.1:0"\nkeep_alive_timeout = 3600\nworkers = 0\n')
    cmd = [sys.executable, "-m", "hypercorn", "--config", str(config), APP]
    return _start("hypercorn", cmd, ROOT, tmp / "hypercorn.log", {**_python_env(), **(env or {})})


def _uvicorn(tmp: Path) -> EndpointProcess:
    cmd = [sys.executable, "-m", "uvicorn", APP, "--host", "127.0.0.1", "--port", "0"]
    cmd += ["--lifespan", "off", "--http", "h11", "--no-access-log"]
    return _start("uvicorn", cmd, ROOT, tmp / "uvicorn.log", _python_env())


@pytest.fixture(scope="module")
def rt_h2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EndpointProcess]:
    endpoint = _hypercorn(tmp_path_factory.mktemp("rt-hypercorn"))
    yield endpoint
    endpoint.stop()


@pytest.fixture(scope="module")
def rt_http11(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EndpointProcess]:
    endpoint = _uvicorn(tmp_path_factory.mktemp("rt-uvicorn"))
    yield endpoint
    endpoint.stop()


@pytest.fixture(scope="module")
def rt_signed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EndpointProcess]:
    env = {"RT_TEST_IDENTITY_KEYS": SIGNER.key_id}
    endpoint = _hypercorn(tmp_path_factory.mktemp("rt-signed"), env)
    yield endpoint
    endpoint.stop()


@pytest.fixture
async def bidi(rt_h2: EndpointProcess) -> AsyncIterator[RemoteEndpoint]:
    found = await discover(rt_h2.uri)
    async with RemoteEndpoint.from_discovery(found, timeouts=QUICK) as endpoint:
        assert endpoint.mode is ProtocolMode.BIDI_STREAM
        yield endpoint


@pytest.fixture
async def request_response(rt_http11: EndpointProcess) -> AsyncIterator[RemoteEndpoint]:
    found = await discover(rt_http11.uri, use_http_11=True)
    async with RemoteEndpoint.from_discovery(found, timeouts=QUICK) as endpoint:
        assert endpoint.mode is ProtocolMode.REQUEST_RESPONSE
        yield endpoint


@pytest.fixture(params=["hypercorn-h2c", "uvicorn-http1.1"])
async def either(
    request: pytest.FixtureRequest, rt_h2: EndpointProcess, rt_http11: EndpointProcess
) -> AsyncIterator[RemoteEndpoint]:
    h2 = request.param == "hypercorn-h2c"
    found = await discover((rt_h2 if h2 else rt_http11).uri, use_http_11=not h2)
    async with RemoteEndpoint.from_discovery(found, timeouts=QUICK) as endpoint:
        yield endpoint


async def test_discovery_over_both_servers(
    rt_h2: EndpointProcess, rt_http11: EndpointProcess
) -> None:
    h2 = await discover(rt_h2.uri)
    h11 = await discover(rt_http11.uri, use_http_11=True)

    for found in (h2, h11):
        services = {s.name: s for s in found.manifest.services}
        assert {"Greeter", "Counter", "Runner", "Sleeper", "Failing"} <= set(services)
        assert found.manifest.protocol_version == 7
        assert found.server is not None and found.server.startswith("rt-sdk")
    assert h2.protocol_mode is ProtocolMode.BIDI_STREAM
    assert h11.protocol_mode is ProtocolMode.REQUEST_RESPONSE


@pytest.mark.parametrize("version", [5, 6, 7])
async def test_a_handler_runs_to_its_end_on_every_protocol_version(
    rt_h2: EndpointProcess, version: int
) -> None:
    async with RemoteEndpoint(rt_h2.uri, protocol_version=version) as endpoint:
        progress = await run_attempt(endpoint, start_of("Greeter", "greet", input=b'"Ada"'))

    output = OutputCommand(result=Value(b'"Hello Ada"'))
    assert progress == [
        NewEntries((InputCommand(body=b'"Ada"'),), position=0),
        NewEntries((output,), position=1),
        Ended(output),
    ]


async def test_eager_state_is_read_and_written_in_one_attempt(either: RemoteEndpoint) -> None:
    start = start_of("Counter", "add", key="c1", input=b"3", state={"count": b"4"})
    progress = await run_attempt(either, start)

    assert progress[1] == NewEntries(
        (
            GetStateCommand(key="count"),
            Completion(1, Value(b"4")),
            SetStateCommand(key="count", value=b"7"),
            OutputCommand(result=Value(b"7")),
        ),
        position=1,
    )
    assert progress[-1] == Ended(OutputCommand(result=Value(b"7")))


async def test_lazy_state_is_completed_live_on_the_open_stream(bidi: RemoteEndpoint) -> None:
    attempt = await RemoteAttempt.open(bidi, start_of("Counter", "add", key="l1", input=b"3"))
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
    start = start_of("Counter", "add", key="l2", input=b"1")
    first = await run_attempt(request_response, start)
    suspended = first[-1]
    assert isinstance(suspended, Suspended) and suspended.awaiting == {1}

    journal = [*journal_of(start, first), Completion(1, Void())]
    second = await run_attempt(
        request_response, start_of("Counter", "add", key="l2", journal=journal)
    )
    assert second[-1] == Ended(OutputCommand(result=Value(b"1")))


async def test_ctx_run_results_wait_for_the_ack_on_the_stream(bidi: RemoteEndpoint) -> None:
    progress = await run_attempt(bidi, start_of("Runner", "double", input=b"5"))

    proposals = [p for p in progress if isinstance(p, RunProposal)]
    assert [p.completion for p in proposals] == [
        Completion(1, Value(b"10")),
        Completion(2, Value(b"20")),
    ]
    assert all(p.requested_ack for p in proposals)  # v7
    assert progress[-1] == Ended(OutputCommand(result=Value(b"20")))


async def test_ctx_run_in_request_response_costs_one_attempt_per_run(
    request_response: RemoteEndpoint,
) -> None:
    start = start_of("Runner", "double", input=b"5")
    progress = await run_attempt(request_response, start)
    attempts = 1
    while not isinstance(progress[-1], Ended):
        assert isinstance(progress[-1], Suspended) and attempts < 3
        journal = journal_of(start, progress)
        start = start_of("Runner", "double", journal=journal, invocation_id=start.invocation_id)
        progress = await run_attempt(request_response, start)
        attempts += 1
    journal = journal_of(start, progress)
    assert attempts == 3  # propose, suspend; replay, propose, suspend; replay, end
    assert journal == [
        InputCommand(body=b"5"),
        RunCommand(name="double"),
        Completion(1, Value(b"10")),
        RunCommand(name="again"),
        Completion(2, Value(b"20")),
        OutputCommand(result=Value(b"20")),
    ]


async def test_a_sleep_suspends_and_a_new_attempt_resumes_it(either: RemoteEndpoint) -> None:
    start = start_of("Sleeper", "nap", input=b"10")
    first = await run_attempt(either, start)  # bidi: suspends at the inactivity timeout

    sleep = first[1].entries[0]  # type: ignore[union-attr]
    assert isinstance(sleep, SleepCommand)
    suspended = first[-1]
    assert isinstance(suspended, Suspended)
    assert suspended.awaiting == {1} and 1 in suspended.signals

    journal = [*journal_of(start, first), Completion(1, Void())]
    second = await run_attempt(
        either, start_of("Sleeper", "nap", journal=journal, invocation_id=start.invocation_id)
    )
    assert second == [
        NewEntries((OutputCommand(result=Value(b'"rested"')),), position=3),
        Ended(OutputCommand(result=Value(b'"rested"'))),
    ]


async def test_a_sleep_completed_live_ends_in_the_same_attempt(bidi: RemoteEndpoint) -> None:
    attempt = await RemoteAttempt.open(bidi, start_of("Sleeper", "nap", input=b"10"))
    progress = []
    async for item in attempt:
        progress.append(item)
        if isinstance(item, NewEntries) and isinstance(item.entries[0], SleepCommand):
            assert await attempt.notify([Completion(1, Void())])
    await attempt.close()
    assert progress[-1] == Ended(OutputCommand(result=Value(b'"rested"')))


async def test_errors_carry_their_failure_codes(either: RemoteEndpoint) -> None:
    terminal = await run_attempt(either, start_of("Failing", "refuse"))
    retryable = await run_attempt(either, start_of("Failing", "later"))

    assert terminal[-1] == Ended(OutputCommand(result=Failure(418, "not a teapot")))
    failed = retryable[-1]
    assert isinstance(failed, AttemptFailed)
    assert (failed.code, failed.message) == (503, "busy")
    assert failed.retry_after == timedelta(seconds=2)


async def test_request_identity_is_enforced_when_keys_are_configured(
    rt_signed: EndpointProcess,
) -> None:
    with pytest.raises(DiscoveryResponseError) as refused:
        await discover(rt_signed.uri)
    assert refused.value.status == 401
    other = IdentitySigner.generate()
    with pytest.raises(DiscoveryResponseError):
        await discover(rt_signed.uri, headers=other.headers("/discover"))
    found = await discover(rt_signed.uri, headers=SIGNER.headers("/discover"))
    assert found.manifest.protocol_version == 7

    async with RemoteEndpoint(rt_signed.uri, protocol_version=7) as unsigned:
        with pytest.raises(EndpointResponseError) as error:
            await run_attempt(unsigned, start_of("Greeter", "greet", input=b'"Eve"'))
    assert error.value.status == 401
    signed_headers = SIGNER.headers("/invoke/Greeter/greet")
    async with RemoteEndpoint(rt_signed.uri, protocol_version=7, headers=signed_headers) as signed:
        progress = await run_attempt(signed, start_of("Greeter", "greet", input=b'"Eve"'))
    assert progress[-1] == Ended(OutputCommand(result=Value(b'"Hello Eve"')))


async def test_pipelines_and_emit_work_behind_the_endpoint(bidi: RemoteEndpoint) -> None:
    start = start_of("Totals", "record", key="u1", input=b"5", state={})
    progress = await run_attempt(bidi, start)
    assert progress[-1] == Ended(OutputCommand(result=Value(b"")))
    journal = journal_of(start, progress)
    (timer,) = [e for e in journal if isinstance(e, SendCommand)]
    assert (timer.service, timer.handler, timer.key) == ("Totals", "close", "u1")
    assert timer.invoke_time_ms is not None  # a durable, delayed send: the close timer
    window = Window(**json.loads(timer.param))
    assert SetStateCommand(key=window.state_key, value=b"5") in journal

    close = start_of("Totals", "close", key="u1", input=timer.param, state={window.state_key: b"5"})
    progress = await run_attempt(bidi, close)
    assert progress[-1] == Ended(OutputCommand(result=Value(b"")))
    (send,) = [e for e in journal_of(close, progress) if isinstance(e, SendCommand)]
    assert (send.service, send.handler, send.key) == ("rt.Kafka", "emit", close.invocation_id)
    payload = json.loads(send.param)
    assert payload["topic"] == "totals"
    assert json.loads(base64.b64decode(payload["value"])) == {
        "user": "u1",
        "start": window.start_ms,
        "total": 5,
    }


async def test_a_call_and_a_send_carry_the_runtimes_callee_ids(either: RemoteEndpoint) -> None:
    start = start_of("Caller", "call_greeter", input=b'"Cy"')
    result = Completion(1, Value(b'"Hello Cy"'))
    live = either.mode is ProtocolMode.BIDI_STREAM
    attempt = await RemoteAttempt.open(either, start)
    progress: list[AttemptProgress] = []
    journal: list[JournalEntry | Signal] = []
    async for item in attempt:
        progress.append(item)
        if isinstance(item, NewEntries):
            journal.extend(item.entries)
            if live and isinstance(item.entries[0], CallCommand):
                assert await attempt.notify([result])
                journal.append(result)
    await attempt.close()
    if not live:  # request/response: suspended on the call, resumed by replay
        assert isinstance(progress[-1], Suspended)
        journal.append(result)
        resumed = start_of(
            "Caller", "call_greeter", journal=journal, invocation_id=start.invocation_id
        )
        progress = await run_attempt(either, resumed)
        journal = journal_of(resumed, progress)

    call, send = [e for e in journal if isinstance(e, CallCommand | SendCommand)]
    assert isinstance(call, CallCommand) and isinstance(send, SendCommand)
    assert (call.param, send.param) == (b'"Cy"', b'"Cy (sent)"')
    assert call.invocation_id == start.callee_ids(CalleeRef(1, "Greeter", "greet", None, None))
    assert progress[-1] == Ended(
        OutputCommand(result=Value(f'"Hello Cy from {call.invocation_id}"'.encode()))
    )
