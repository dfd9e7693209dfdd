"""sdk.app serving Restate's service protocol in request/response mode, in memory (ADR 0021).

The request is built the way rt's protocol client builds it (start message plus the
journal replayed by ``JournalTranslator``); the response frames are decoded and
checked message by message. Real servers and the real client: tests/integration/sdk_server.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
import pytest
from google.protobuf.message import Message

import sdk as restate
from sdk.engine import (
    CallCommand,
    CancelSignal,
    Completion,
    GetPromiseCommand,
    GetStateCommand,
    InputCommand,
    JournalEntry,
    NamedSignal,
    RunCommand,
    SetStateCommand,
    SleepCommand,
    Value,
)
from sdk.ids import child_invocation_id, invocation_id_for
from sdk.protocol import (
    FrameDecoder,
    IdentitySigner,
    JournalTranslator,
    MessageType,
    Signal,
    encode_message,
    pb,
    signal_awakeable_id,
)
from tests.unit.sdk import handlers, served

INVOCATION = invocation_id_for(service="Any", key=None)


def _request(
    journal: Sequence[JournalEntry | Signal],
    *,
    key: str = "",
    state: Mapping[str, bytes] | None = None,
) -> bytes:
    translator = JournalTranslator(
        lambda ref: child_invocation_id(INVOCATION, ref.command_index, ref.service, ref.key)
    )
    replay = translator.replay(journal)
    start = pb.StartMessage(
        id=INVOCATION.encode(),
        debug_id=INVOCATION,
        known_entries=len(replay),
        partial_state=state is None,
        key=key,
        random_seed=7,
    )
    for k, v in (state or {}).items():
        start.state_map.add(key=k.encode(), value=v)
    return encode_message(start) + b"".join(replay)


async def _invoke(
    path: str,
    body: bytes,
    *,
    version: int = 7,
    app: Any = served.app,
    headers: Mapping[str, str] | None = None,
) -> tuple[httpx.Response, list[tuple[MessageType, Message, bool]]]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sdk") as client:
        response = await client.post(
            path,
            content=body,
            headers={
                "content-type": f"application/vnd.restate.invocation.v{version}",
                **(headers or {}),
            },
        )
    if response.status_code != 200:
        return response, []
    frames = FrameDecoder().feed(response.content)
    return response, [(f.type, f.decode(), f.requested_ack) for f in frames]


def _types(frames: list[tuple[MessageType, Message, bool]]) -> list[MessageType]:
    return [t for t, _, _ in frames]


async def test_a_handler_runs_to_its_output_and_end() -> None:
    response, frames = await _invoke(
        "/invoke/Greeter/greet", _request([InputCommand(body=b'"Ada"')])
    )

    assert response.headers["content-type"] == "application/vnd.restate.invocation.v7"
    assert response.headers["x-restate-server"].startswith("rt-sdk")
    assert _types(frames) == [MessageType.OUTPUT_COMMAND, MessageType.END]
    assert frames[0][1] == pb.OutputCommandMessage(value=pb.Value(content=b'"Hello Ada"'))


async def test_eager_state_is_answered_inline_with_the_value() -> None:
    body = _request([InputCommand(body=b"3")], key="c1", state={"count": b"4"})
    _, frames = await _invoke("/invoke/Counter/add", body)

    assert _types(frames) == [
        MessageType.GET_EAGER_STATE_COMMAND,
        MessageType.SET_STATE_COMMAND,
        MessageType.OUTPUT_COMMAND,
        MessageType.END,
    ]
    assert frames[0][1] == pb.GetEagerStateCommandMessage(
        key=b"count", value=pb.Value(content=b"4")
    )
    assert frames[1][1] == pb.SetStateCommandMessage(key=b"count", value=pb.Value(content=b"7"))


async def test_lazy_state_suspends_on_the_read_then_replays_its_completion() -> None:
    _, frames = await _invoke("/invoke/Counter/add", _request([InputCommand(body=b"3")], key="c1"))
    assert _types(frames) == [MessageType.GET_LAZY_STATE_COMMAND, MessageType.SUSPENSION]
    assert frames[0][1] == pb.GetLazyStateCommandMessage(key=b"count", result_completion_id=1)
    suspension = frames[1][1]
    assert isinstance(suspension, pb.SuspensionMessage)
    assert list(suspension.waiting_completions) == [1]
    assert list(suspension.waiting_signals) == [1]
    assert list(suspension.awaiting_on.waiting_completions) == [1]
    assert list(suspension.awaiting_on.waiting_signals) == [1]

    journal: list[JournalEntry] = [
        InputCommand(body=b"3"),
        GetStateCommand(key="count"),
        Completion(1, Value(b"4")),
    ]
    _, frames = await _invoke("/invoke/Counter/add", _request(journal, key="c1"))
    assert _types(frames) == [
        MessageType.SET_STATE_COMMAND,
        MessageType.OUTPUT_COMMAND,
        MessageType.END,
    ]


@pytest.mark.parametrize("version", [5, 6, 7])
async def test_a_run_result_is_proposed_and_the_handler_suspends_until_it_is_durable(
    version: int,
) -> None:
    _, frames = await _invoke(
        "/invoke/Runner/double", _request([InputCommand(body=b"5")]), version=version
    )
    assert _types(frames) == [
        MessageType.RUN_COMMAND,
        MessageType.PROPOSE_RUN_COMPLETION,
        MessageType.SUSPENSION,
    ]
    assert frames[0][1] == pb.RunCommandMessage(name="double", result_completion_id=1)
    assert frames[1][1] == pb.ProposeRunCompletionMessage(result_completion_id=1, value=b"10")
    assert frames[1][2] is (version >= 7)
    assert list(frames[2][1].waiting_completions) == [1]  # type: ignore[attr-defined]

    journal: list[JournalEntry] = [
        InputCommand(body=b"5"),
        RunCommand(name="double"),
        Completion(1, Value(b"10")),
    ]
    _, frames = await _invoke("/invoke/Runner/double", _request(journal), version=version)
    assert _types(frames) == [
        MessageType.RUN_COMMAND,
        MessageType.PROPOSE_RUN_COMPLETION,
        MessageType.SUSPENSION,
    ]
    assert frames[1][1] == pb.ProposeRunCompletionMessage(result_completion_id=2, value=b"20")


async def test_a_run_that_fails_terminally_proposes_its_failure() -> None:
    _, frames = await _invoke("/invoke/Runner/charge", _request([InputCommand()]))
    assert _types(frames) == [
        MessageType.RUN_COMMAND,
        MessageType.PROPOSE_RUN_COMPLETION,
        MessageType.SUSPENSION,
    ]
    assert frames[1][1] == pb.ProposeRunCompletionMessage(
        result_completion_id=1, failure=pb.Failure(code=402, message="card declined")
    )


async def test_a_sleep_suspends_and_its_completion_resumes_the_handler() -> None:
    _, frames = await _invoke("/invoke/Sleeper/nap", _request([InputCommand(body=b"10")]))
    assert _types(frames) == [MessageType.SLEEP_COMMAND, MessageType.SUSPENSION]
    sleep = frames[0][1]
    assert isinstance(sleep, pb.SleepCommandMessage) and sleep.result_completion_id == 1

    journal: list[JournalEntry] = [
        InputCommand(body=b"10"),
        SleepCommand(wake_up_time_ms=sleep.wake_up_time),
        Completion(1, restate.engine.Void()),
    ]
    _, frames = await _invoke("/invoke/Sleeper/nap", _request(journal))
    assert _types(frames) == [MessageType.OUTPUT_COMMAND, MessageType.END]


async def test_a_terminal_error_is_the_output_with_its_code() -> None:
    _, frames = await _invoke("/invoke/Failing/refuse", _request([InputCommand()]))
    assert _types(frames) == [MessageType.OUTPUT_COMMAND, MessageType.END]
    output = frames[0][1]
    assert isinstance(output, pb.OutputCommandMessage)
    assert (output.failure.code, output.failure.message) == (418, "not a teapot")


async def test_a_retryable_error_fails_the_attempt_with_its_code_and_delay() -> None:
    _, frames = await _invoke("/invoke/Failing/later", _request([InputCommand()]))
    assert _types(frames) == [MessageType.ERROR]
    error = frames[0][1]
    assert isinstance(error, pb.ErrorMessage)
    assert (error.code, error.message, error.next_retry_delay) == (503, "busy", 2000)


async def test_a_diverging_replay_is_a_570() -> None:
    journal: list[JournalEntry] = [InputCommand(body=b"5"), SleepCommand(wake_up_time_ms=1)]
    _, frames = await _invoke("/invoke/Runner/double", _request(journal))
    assert _types(frames) == [MessageType.ERROR]
    error = frames[0][1]
    assert isinstance(error, pb.ErrorMessage) and error.code == 570
    assert error.related_command_index == 1


async def test_a_named_signal_in_the_journal_is_kept_and_changes_nothing() -> None:
    """No ctx.signal of rt's SDK waits for it behind the protocol (ADR 0027), but a signal
    sent to the invocation is no error: the handler runs as without it."""
    plain = _request([InputCommand(body=b"10")])
    original = FrameDecoder().feed(plain)
    start = original[0].decode()
    assert isinstance(start, pb.StartMessage)
    start.known_entries += 1
    signal = pb.NotificationMessage(signal_name="go", void=pb.Void())
    rebuilt = (
        encode_message(start)
        + b"".join(f.encode() for f in original[1:])
        + encode_message(signal, kind=MessageType.SIGNAL_NOTIFICATION)
    )
    _, with_signal = await _invoke("/invoke/Sleeper/nap", rebuilt)
    _, without = await _invoke("/invoke/Sleeper/nap", plain)
    assert _types(with_signal) == _types(without)
    assert MessageType.ERROR not in _types(with_signal)


async def test_named_signals_behind_the_protocol() -> None:
    """ctx.signal issues no command: it suspends naming the signal, takes the journaled
    signals in order (ADR 0027); resolve_signal sends a SendSignal by name."""
    _, frames = await _invoke("/invoke/Awaiter/signalled", _request([InputCommand()]))
    assert _types(frames) == [MessageType.SUSPENSION]
    suspension = frames[0][1]
    assert isinstance(suspension, pb.SuspensionMessage)
    assert list(suspension.waiting_named_signals) == ["go"]
    assert list(suspension.awaiting_on.waiting_named_signals) == ["go"]
    assert list(suspension.waiting_signals) == [1]

    one = NamedSignal("go", Value(b'"a"'))
    _, frames = await _invoke("/invoke/Awaiter/signalled", _request([InputCommand(), one]))
    assert _types(frames) == [MessageType.SUSPENSION]

    two = NamedSignal("go", Value(b'"b"'))
    _, frames = await _invoke("/invoke/Awaiter/signalled", _request([InputCommand(), one, two]))
    assert _types(frames) == [MessageType.OUTPUT_COMMAND, MessageType.END]
    assert frames[0][1] == pb.OutputCommandMessage(value=pb.Value(content=b'"a+b"'))

    target = child_invocation_id(INVOCATION, 1, "Awaiter", None)
    body = _request([InputCommand(body=f'"{target}"'.encode())])
    _, frames = await _invoke("/invoke/Awaiter/send_signal", body)
    assert _types(frames) == [
        MessageType.SEND_SIGNAL_COMMAND,
        MessageType.OUTPUT_COMMAND,
        MessageType.END,
    ]
    assert frames[0][1] == pb.SendSignalCommandMessage(
        target_invocation_id=target, name="go", value=pb.Value(content=b'"yes"')
    )


async def test_emit_behind_the_protocol_is_a_send_to_rt_kafka() -> None:
    _, frames = await _invoke("/invoke/Publisher/publish", _request([InputCommand(body=b'"hi"')]))
    assert _types(frames) == [
        MessageType.ONE_WAY_CALL_COMMAND,
        MessageType.OUTPUT_COMMAND,
        MessageType.END,
    ]
    send = frames[0][1]
    assert isinstance(send, pb.OneWayCallCommandMessage)
    assert (send.service_name, send.handler_name, send.key) == ("rt.Kafka", "emit", INVOCATION)
    assert json.loads(send.parameter) == {
        "topic": "events",
        "value": base64.b64encode(b"hi").decode(),
        "key": base64.b64encode(b"k").decode(),
        "headers": {"h": base64.b64encode(b"v").decode()},
    }


async def test_wrong_versions_and_content_types_are_415_and_unknown_handlers_404() -> None:
    body = _request([InputCommand()])
    for version in (4, 8):
        response, _ = await _invoke("/invoke/Greeter/greet", body, version=version)
        assert response.status_code == 415
        assert "application/vnd.restate.invocation.v5" in response.json()["message"]
    transport = httpx.ASGITransport(app=served.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sdk") as client:
        plain = await client.post("/invoke/Greeter/greet", content=body)
    assert plain.status_code == 415
    response, _ = await _invoke("/invoke/Greeter/nope", body)
    assert response.status_code == 404


async def test_discovery_negotiates_the_manifest_version() -> None:
    transport = httpx.ASGITransport(app=served.app)
    v4 = "application/vnd.restate.endpointmanifest.v4+json"
    v2 = "application/vnd.restate.endpointmanifest.v2+json"
    async with httpx.AsyncClient(transport=transport, base_url="http://sdk") as client:
        newest = await client.get("/discover", headers={"accept": f"{v2}, {v4}"})
        old = await client.get("/discover", headers={"accept": v2})
        none = await client.get("/discover", headers={"accept": "application/json"})
    assert newest.status_code == 200
    assert newest.headers["content-type"] == v4
    assert newest.headers["x-restate-server"].startswith("rt-sdk")
    manifest = newest.json()
    assert (manifest["minProtocolVersion"], manifest["maxProtocolVersion"]) == (5, 7)
    assert manifest["protocolMode"] == "REQUEST_RESPONSE"  # asked over HTTP/1.1
    assert old.status_code == 200 and old.headers["content-type"] == v2
    assert none.status_code == 415


async def test_discovery_refuses_a_version_too_old_for_the_options() -> None:
    from datetime import timedelta

    svc = restate.Service("Slow", inactivity_timeout=timedelta(seconds=3))

    @svc.handler()
    async def go(ctx: restate.Context) -> None: ...

    transport = httpx.ASGITransport(app=restate.app([svc]))
    async with httpx.AsyncClient(transport=transport, base_url="http://sdk") as client:
        old = await client.get(
            "/discover", headers={"accept": "application/vnd.restate.endpointmanifest.v2+json"}
        )
    assert old.status_code == 415 and "inactivityTimeout" in old.json()["message"]


async def test_identity_keys_refuse_unsigned_and_badly_signed_requests() -> None:
    signer, other = IdentitySigner.generate(), IdentitySigner.generate()
    app = restate.app(served.SERVICES, identity_keys=[signer.key_id])
    body = _request([InputCommand(body=b'"Ada"')])
    path = "/invoke/Greeter/greet"

    unsigned, _ = await _invoke(path, body, app=app)
    forged, _ = await _invoke(path, body, app=app, headers=other.headers(path))
    elsewhere, _ = await _invoke(path, body, app=app, headers=signer.headers("/invoke/Greeter/x"))
    signed, frames = await _invoke(path, body, app=app, headers=signer.headers(path))

    assert [unsigned.status_code, forged.status_code, elsewhere.status_code] == [401, 401, 401]
    assert "x-restate-signature-scheme" in unsigned.json()["message"]
    assert signed.status_code == 200 and _types(frames)[-1] is MessageType.END
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sdk") as client:
        assert (await client.get("/discover")).status_code == 401
        assert (
            await client.get("/discover", headers=signer.headers("/discover"))
        ).status_code == 200
        assert (await client.get("/health")).status_code == 200


def test_a_malformed_identity_key_fails_at_app() -> None:
    with pytest.raises(ValueError, match="publickeyv1_"):
        restate.app(served.SERVICES, identity_keys=["not-a-key"])


async def test_an_awakeable_is_a_signal_of_the_invocation_not_a_command() -> None:
    _, frames = await _invoke("/invoke/Awaiter/wait", _request([InputCommand()]))
    assert _types(frames) == [MessageType.SUSPENSION]
    suspension = frames[0][1]
    assert isinstance(suspension, pb.SuspensionMessage)
    assert list(suspension.waiting_signals) == [1, 17]  # cancellation always counts
    assert list(suspension.waiting_completions) == []

    resolved = Signal(index=17, result=Value(b'"yes"'))
    _, frames = await _invoke("/invoke/Awaiter/wait", _request([InputCommand(), resolved]))
    assert _types(frames) == [MessageType.OUTPUT_COMMAND, MessageType.END]
    output = frames[0][1]
    assert isinstance(output, pb.OutputCommandMessage)
    assert json.loads(output.value.content) == f"{signal_awakeable_id(INVOCATION, 17)}=yes"


async def test_a_remote_awakeable_id_is_resolved_with_complete_awakeable() -> None:
    name = signal_awakeable_id("inv_other", 17)
    body = _request([InputCommand(body=json.dumps(name).encode())])
    _, frames = await _invoke("/invoke/Awaiter/resolve", body)
    assert _types(frames) == [
        MessageType.COMPLETE_AWAKEABLE_COMMAND,
        MessageType.OUTPUT_COMMAND,
        MessageType.END,
    ]
    assert frames[0][1] == pb.CompleteAwakeableCommandMessage(
        awakeable_id=name, value=pb.Value(content=b'"yes"')
    )


class _Bidi:
    """An HTTP/2 request driven by hand: the body stays open until :meth:`end`."""

    def __init__(self, path: str, version: int = 7) -> None:
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.outbox: asyncio.Queue[Any] = asyncio.Queue()
        self.decoder = FrameDecoder()
        scope = {
            "type": "http",
            "http_version": "2",
            "method": "POST",
            "path": path,
            "headers": [
                (b"content-type", f"application/vnd.restate.invocation.v{version}".encode())
            ],
        }
        self.task = asyncio.create_task(served.app(scope, self.inbox.get, self.outbox.put))

    def send(self, data: bytes) -> None:
        self.inbox.put_nowait({"type": "http.request", "body": data, "more_body": True})

    def end(self) -> None:
        self.inbox.put_nowait({"type": "http.request", "body": b"", "more_body": False})

    async def frames(self, count: int) -> list[tuple[MessageType, Message]]:
        out: list[tuple[MessageType, Message]] = []
        while len(out) < count:
            message = await asyncio.wait_for(self.outbox.get(), 5)
            if message["type"] == "http.response.start":
                assert message["status"] == 200
                continue
            assert message["more_body"] is True, "the response ended early"
            out += [(f.type, f.decode()) for f in self.decoder.feed(message["body"])]
        return out

    async def response_end(self) -> None:
        message = await asyncio.wait_for(self.outbox.get(), 5)
        assert message == {"type": "http.response.body", "body": b"", "more_body": False}
        await asyncio.wait_for(self.task, 5)


async def test_bidi_a_completion_on_the_open_stream_resumes_the_handler() -> None:
    stream = _Bidi("/invoke/Sleeper/nap")
    stream.send(_request([InputCommand(body=b"10")]))
    [(kind, sleep)] = await stream.frames(1)
    assert kind is MessageType.SLEEP_COMMAND

    done = pb.NotificationMessage(completion_id=1, void=pb.Void())
    stream.send(encode_message(done, kind=MessageType.SLEEP_COMPLETION))
    assert [t for t, _ in await stream.frames(2)] == [MessageType.OUTPUT_COMMAND, MessageType.END]
    await asyncio.sleep(0.05)
    assert stream.outbox.empty(), "the response must stay open until the runtime ends its request"
    stream.end()
    await stream.response_end()


async def test_bidi_a_run_goes_on_after_its_ack_and_suspends_when_the_request_ends() -> None:
    stream = _Bidi("/invoke/Runner/double")
    stream.send(_request([InputCommand(body=b"5")]))
    assert [t for t, _ in await stream.frames(2)] == [
        MessageType.RUN_COMMAND,
        MessageType.PROPOSE_RUN_COMPLETION,
    ]
    await asyncio.sleep(0.05)
    assert stream.outbox.empty(), "the handler went past ctx.run before the ack"
    stream.send(encode_message(pb.ProposeRunCompletionAckMessage(completion_id=1)))
    assert [t for t, _ in await stream.frames(2)] == [
        MessageType.RUN_COMMAND,
        MessageType.PROPOSE_RUN_COMPLETION,
    ]
    stream.end()  # the runtime asks it to suspend (inactivity)
    [(kind, suspension)] = await stream.frames(1)
    assert kind is MessageType.SUSPENSION
    assert list(suspension.waiting_completions) == [2]  # type: ignore[attr-defined]
    await stream.response_end()


async def test_bidi_a_runtime_that_goes_away_ends_the_attempt() -> None:
    stream = _Bidi("/invoke/Sleeper/nap")
    stream.send(_request([InputCommand(body=b"10")]))
    await stream.frames(1)
    stream.inbox.put_nowait({"type": "http.disconnect"})
    await asyncio.wait_for(stream.task, 5)
    assert stream.outbox.empty()


async def test_a_call_suspends_on_its_result_and_replay_keeps_the_runtimes_callee_id() -> None:
    _, frames = await _invoke("/invoke/Caller/call_greeter", _request([InputCommand(body=b'"Cy"')]))
    assert _types(frames) == [MessageType.CALL_COMMAND, MessageType.SUSPENSION]
    call = frames[0][1]
    assert isinstance(call, pb.CallCommandMessage)
    assert (call.service_name, call.handler_name, call.parameter) == ("Greeter", "greet", b'"Cy"')
    assert (call.invocation_id_notification_idx, call.result_completion_id) == (1, 2)
    assert list(frames[1][1].waiting_completions) == [2]  # type: ignore[attr-defined]

    # The runtime's journal: the call with the callee id it chose, then the result.
    callee = "inv_1calleeChosenByTheRuntime"
    journal: list[JournalEntry] = [
        InputCommand(body=b'"Cy"'),
        CallCommand(service="Greeter", handler="greet", param=b'"Cy"', invocation_id=callee),
        Completion(1, Value(b'"Hello Cy"')),
    ]
    _, frames = await _invoke("/invoke/Caller/call_greeter", _request(journal))
    assert _types(frames) == [
        MessageType.ONE_WAY_CALL_COMMAND,
        MessageType.OUTPUT_COMMAND,
        MessageType.END,
    ]
    send = frames[0][1]
    assert isinstance(send, pb.OneWayCallCommandMessage)
    assert (send.parameter, send.invocation_id_notification_idx) == (b'"Cy (sent)"', 3)
    output = frames[1][1]
    assert isinstance(output, pb.OutputCommandMessage)
    assert json.loads(output.value.content) == f"Hello Cy from {callee}"


async def test_a_cancellation_in_the_journal_ends_the_handler_with_409() -> None:
    journal: list[JournalEntry] = [
        InputCommand(body=b"10"),
        SleepCommand(wake_up_time_ms=1),
        CancelSignal(),
    ]
    _, frames = await _invoke("/invoke/Sleeper/nap", _request(journal))
    assert _types(frames) == [MessageType.OUTPUT_COMMAND, MessageType.END]
    output = frames[0][1]
    assert isinstance(output, pb.OutputCommandMessage)
    assert (output.failure.code, output.failure.message) == (409, "cancelled")


async def test_a_workflow_awaits_its_promise_and_another_handler_resolves_it() -> None:
    app = restate.app([handlers.signup])
    body = _request([InputCommand(body=b'"a@b"')], key="w1", state={})
    _, frames = await _invoke("/invoke/Signup/signup_run", body, app=app)
    assert _types(frames) == [
        MessageType.SET_STATE_COMMAND,
        MessageType.GET_PROMISE_COMMAND,
        MessageType.SUSPENSION,
    ]
    assert frames[1][1] == pb.GetPromiseCommandMessage(key="code", result_completion_id=1)

    body = _request([InputCommand(body=b'"42"')], key="w1", state={})
    _, frames = await _invoke("/invoke/Signup/confirm", body, app=app)
    assert _types(frames) == [MessageType.COMPLETE_PROMISE_COMMAND, MessageType.SUSPENSION]
    complete = frames[0][1]
    assert isinstance(complete, pb.CompletePromiseCommandMessage)
    assert (complete.key, complete.completion_value.content) == ("code", b'"42"')

    journal: list[JournalEntry] = [
        InputCommand(body=b'"a@b"'),
        SetStateCommand(key="email", value=b'"a@b"'),
        GetPromiseCommand(name="code"),
        Completion(2, Value(b'"42"')),
    ]
    _, frames = await _invoke(
        "/invoke/Signup/signup_run", _request(journal, key="w1", state={}), app=app
    )
    assert _types(frames) == [MessageType.OUTPUT_COMMAND, MessageType.END]
    assert json.loads(frames[0][1].value.content) == "a@b confirmed with 42"  # type: ignore[attr-defined]
