"""rt journal <-> protocol messages: round trips, completion ids, what rt cannot record."""

from __future__ import annotations

from datetime import timedelta

import pytest
from google.protobuf.message import Message
from hypothesis import given
from hypothesis import strategies as st

from runtime.protocol.errors import ProtocolViolationError, UnsupportedFeatureError
from runtime.protocol.framing import Frame, FrameDecoder, encode_message
from runtime.protocol.generated import service_protocol_pb2 as pb
from runtime.protocol.messages import MessageType
from runtime.protocol.progress import (
    AwaitTree,
    CalleeRef,
    Combinator,
    ErrorBehavior,
    Signal,
    Suspended,
)
from runtime.protocol.translate import JournalTranslator, attempt_failed
from sdk.engine import (
    AwakeableCommand,
    CallCommand,
    CancelSignal,
    Completion,
    Failure,
    GetStateCommand,
    InputCommand,
    JournalEntry,
    NamedSignal,
    OutputCommand,
    RunCommand,
    SendCommand,
    SendSignalCommand,
    SleepCommand,
    StateKeys,
    Value,
    Void,
)


def callee(ref: CalleeRef) -> str:
    return f"inv_{ref.service}_{ref.command_index}"


def frames(data: list[bytes]) -> list[Frame]:
    return FrameDecoder().feed(b"".join(data))


def frame(message: Message, kind: MessageType | None = None, ack: bool = False) -> Frame:
    (f,) = FrameDecoder().feed(encode_message(message, kind=kind, requested_ack=ack))
    return f


def sdk_sends(translator: JournalTranslator, messages: list[Message]) -> list[JournalEntry]:
    journal: list[JournalEntry] = []
    for message in messages:
        entries, _ = translator.command(frame(message))
        journal.extend(entries)
    return journal


INPUT = InputCommand(headers={"h": "v"}, body=b'"in"')


# --- Round trip: what an SDK sends, recorded by rt, replays as the same messages. ---

_text = st.text(alphabet="abcxyz_-.", min_size=1, max_size=6)
_bytes = st.binary(max_size=8)
_failure = st.builds(
    lambda code, msg, md: pb.Failure(
        code=code, message=msg, metadata=[pb.FailureMetadata(key=k, value=v) for k, v in md.items()]
    ),
    st.integers(min_value=400, max_value=599),
    _text,
    st.dictionaries(_text, _text, max_size=2),
)


@st.composite
def sdk_commands(draw: st.DrawFn) -> list[Message]:
    """Commands as an SDK (sdk-shared-core) numbers them: completion ids from 1."""
    out: list[Message] = []
    next_id = 1

    def ids(n: int) -> list[int]:
        nonlocal next_id
        got = list(range(next_id, next_id + n))
        next_id += n
        return got

    for _ in range(draw(st.integers(min_value=0, max_value=12))):
        kind = draw(st.integers(min_value=0, max_value=17))
        key = draw(_text)
        if kind == 0:
            out.append(
                pb.SetStateCommandMessage(key=key.encode(), value=pb.Value(content=draw(_bytes)))
            )
        elif kind == 1:
            out.append(pb.ClearStateCommandMessage(key=key.encode()))
        elif kind == 2:
            out.append(pb.ClearAllStateCommandMessage())
        elif kind == 3:
            ids(1)
            m = pb.GetEagerStateCommandMessage(key=key.encode())
            if draw(st.booleans()):
                m.value.content = draw(_bytes)
            else:
                m.void.SetInParent()
            out.append(m)
        elif kind == 4:
            out.append(
                pb.GetLazyStateCommandMessage(key=key.encode(), result_completion_id=ids(1)[0])
            )
        elif kind == 5:
            ids(1)
            keys = draw(st.lists(_text, max_size=3))
            out.append(
                pb.GetEagerStateKeysCommandMessage(
                    value=pb.StateKeys(keys=[k.encode() for k in keys])
                )
            )
        elif kind == 6:
            out.append(pb.GetLazyStateKeysCommandMessage(result_completion_id=ids(1)[0]))
        elif kind == 7:
            out.append(
                pb.RunCommandMessage(
                    result_completion_id=ids(1)[0], name=draw(st.sampled_from(["", key]))
                )
            )
        elif kind == 8:
            out.append(
                pb.SleepCommandMessage(
                    wake_up_time=draw(st.integers(min_value=0, max_value=2**42)),
                    result_completion_id=ids(1)[0],
                    name=draw(st.sampled_from(["", key])),
                )
            )
        elif kind in (9, 10):
            headers = [
                pb.Header(key=k, value=v)
                for k, v in draw(st.dictionaries(_text, _text, max_size=2)).items()
            ]
            idem = draw(st.none() | _text)
            target_key = draw(st.sampled_from(["", key]))
            if kind == 9:
                a, b = ids(2)
                m = pb.CallCommandMessage(
                    service_name="S",
                    handler_name=key,
                    parameter=draw(_bytes),
                    headers=headers,
                    key=target_key,
                    invocation_id_notification_idx=a,
                    result_completion_id=b,
                )
            else:
                m = pb.OneWayCallCommandMessage(
                    service_name="S",
                    handler_name=key,
                    parameter=draw(_bytes),
                    headers=headers,
                    key=target_key,
                    invoke_time=draw(st.sampled_from([0, 1_800_000_000_000])),
                    invocation_id_notification_idx=ids(1)[0],
                )
            if idem is not None:
                m.idempotency_key = idem
            out.append(m)
        elif kind == 11:
            out.append(pb.GetPromiseCommandMessage(key=key, result_completion_id=ids(1)[0]))
        elif kind == 12:
            out.append(pb.PeekPromiseCommandMessage(key=key, result_completion_id=ids(1)[0]))
        elif kind == 13:
            m = pb.CompletePromiseCommandMessage(key=key, result_completion_id=ids(1)[0])
            if draw(st.booleans()):
                m.completion_value.content = draw(_bytes)
            else:
                m.completion_failure.CopyFrom(draw(_failure))
            out.append(m)
        elif kind == 14:
            out.append(
                pb.AttachInvocationCommandMessage(
                    invocation_id=f"inv_{key}", result_completion_id=ids(1)[0]
                )
            )
        elif kind == 15:
            out.append(
                pb.GetInvocationOutputCommandMessage(
                    invocation_id=f"inv_{key}", result_completion_id=ids(1)[0]
                )
            )
        elif kind == 16:
            out.append(
                pb.SendSignalCommandMessage(
                    target_invocation_id=f"inv_{key}", idx=1, void=pb.Void()
                )
            )
        else:
            m = pb.CompleteAwakeableCommandMessage(awakeable_id=f"sign_1{key}")
            if draw(st.booleans()):
                m.value.content = draw(_bytes)
            else:
                m.failure.CopyFrom(draw(_failure))
            out.append(m)
    if draw(st.booleans()):
        m = pb.OutputCommandMessage()
        if draw(st.booleans()):
            m.value.content = draw(_bytes)
        else:
            m.failure.CopyFrom(draw(_failure))
        out.append(m)
    return out


@given(sdk_commands())
def test_what_an_sdk_sent_replays_as_the_same_messages(messages: list[Message]) -> None:
    live = JournalTranslator(callee)
    live.replay([INPUT])
    journal = [INPUT, *sdk_sends(live, messages)]

    replayed = frames(JournalTranslator(callee).replay(journal))

    commands = [
        f.decode() for f in replayed if f.type is not MessageType.CALL_INVOCATION_ID_COMPLETION
    ]
    input_message = pb.InputCommandMessage(
        headers=[pb.Header(key="h", value="v")], value=pb.Value(content=b'"in"')
    )
    assert commands == [input_message, *messages]


def test_calls_and_sends_get_rts_callee_ids_as_invocation_id_notifications() -> None:
    translator = JournalTranslator(callee)
    translator.replay([INPUT])
    call = pb.CallCommandMessage(
        service_name="Greeter",
        handler_name="greet",
        parameter=b"1",
        invocation_id_notification_idx=1,
        result_completion_id=2,
    )

    entries, replies = translator.command(frame(call))

    assert entries == [
        CallCommand(service="Greeter", handler="greet", param=b"1", invocation_id="inv_Greeter_1")
    ]
    (reply,) = frames(replies)
    assert reply.type is MessageType.CALL_INVOCATION_ID_COMPLETION
    assert reply.decode() == pb.NotificationMessage(completion_id=1, invocation_id="inv_Greeter_1")


def test_completions_become_the_notification_of_their_command() -> None:
    translator = JournalTranslator(callee)
    journal: list[JournalEntry] = [
        INPUT,
        SleepCommand(wake_up_time_ms=5),
        CallCommand(service="S", handler="h", invocation_id="inv_c"),
        GetStateCommand(key="k"),
        RunCommand(name="r"),
    ]
    translator.replay(journal)

    cases = [
        (
            Completion(1, Void()),
            MessageType.SLEEP_COMPLETION,
            pb.NotificationMessage(completion_id=1, void=pb.Void()),
        ),
        (
            Completion(2, Value(b"v")),
            MessageType.CALL_COMPLETION,
            pb.NotificationMessage(completion_id=3, value=pb.Value(content=b"v")),
        ),
        (
            Completion(3, Void()),
            MessageType.GET_LAZY_STATE_COMPLETION,
            pb.NotificationMessage(completion_id=4, void=pb.Void()),
        ),
        (
            Completion(4, Failure(500, "x", {"a": "b"})),
            MessageType.RUN_COMPLETION,
            pb.NotificationMessage(
                completion_id=5,
                failure=pb.Failure(
                    code=500, message="x", metadata=[pb.FailureMetadata(key="a", value="b")]
                ),
            ),
        ),
        (
            CancelSignal(),
            MessageType.SIGNAL_NOTIFICATION,
            pb.NotificationMessage(signal_id=1, void=pb.Void()),
        ),
        (
            Signal(index=17, result=Value(b"ok")),
            MessageType.SIGNAL_NOTIFICATION,
            pb.NotificationMessage(signal_id=17, value=pb.Value(content=b"ok")),
        ),
        (
            Signal(name="go"),
            MessageType.SIGNAL_NOTIFICATION,
            pb.NotificationMessage(signal_name="go", void=pb.Void()),
        ),
    ]
    for notification, kind, message in cases:
        data = translator.notification(notification)
        assert data is not None
        (f,) = frames([data])
        assert (f.type, f.decode()) == (kind, message)
    assert translator.notification(Completion(1, Void())) is None  # the first completion wins


def test_state_keys_completion_and_eager_replay() -> None:
    translator = JournalTranslator(callee)
    replayed = frames(
        translator.replay(
            [INPUT, GetStateCommand(key="a"), Completion(1, Value(b"1")), GetStateCommand(key="b")]
        )
    )

    assert [f.type for f in replayed] == [
        MessageType.INPUT_COMMAND,
        MessageType.GET_EAGER_STATE_COMMAND,
        MessageType.GET_LAZY_STATE_COMMAND,
    ]
    assert replayed[2].decode() == pb.GetLazyStateCommandMessage(key=b"b", result_completion_id=2)


@pytest.mark.parametrize(
    ("journal", "error"),
    [
        ([RunCommand(name="r")], "starts with Run, not Input"),
        ([INPUT, AwakeableCommand(id="prom_1")], "remote endpoints never issue"),
        ([INPUT, Completion(3, Void())], "does not have"),
        (
            [INPUT, RunCommand(name="r"), Completion(1, StateKeys(["k"]))],
            "cannot be completed with StateKeys",
        ),
        ([INPUT, Completion(0, Void())], "never completed"),
    ],
)
def test_journals_no_endpoint_can_have_made_are_refused(
    journal: list[JournalEntry], error: str
) -> None:
    with pytest.raises(ValueError, match=error):
        JournalTranslator(callee).replay(journal)


@pytest.mark.parametrize(
    ("message", "error"),
    [
        (
            pb.SendSignalCommandMessage(target_invocation_id="inv_x", idx=17, void=pb.Void()),
            "by signal index",
        ),
        (
            pb.CallCommandMessage(
                service_name="S",
                handler_name="h",
                scope="s",
                invocation_id_notification_idx=1,
                result_completion_id=2,
            ),
            "scope or limit key",
        ),
        (
            pb.SetStateCommandMessage(key=b"k", value=pb.Value(), name="named"),
            "names its SET_STATE_COMMAND",
        ),
        (
            pb.AttachInvocationCommandMessage(
                workflow_target=pb.WorkflowTarget(workflow_name="W", workflow_key="k"),
                result_completion_id=1,
            ),
            "workflow or idempotent",
        ),
        (pb.SetStateCommandMessage(key=b"\xff", value=pb.Value()), "not UTF-8"),
    ],
)
def test_what_rts_journal_cannot_record_is_refused_clearly(message: Message, error: str) -> None:
    translator = JournalTranslator(callee)
    translator.replay([INPUT])
    with pytest.raises(UnsupportedFeatureError, match=error):
        translator.command(frame(message))


def test_an_input_from_the_endpoint_is_a_violation() -> None:
    translator = JournalTranslator(callee)
    translator.replay([INPUT])
    with pytest.raises(ProtocolViolationError, match="only rt sends"):
        translator.command(frame(pb.InputCommandMessage()))


def test_run_proposals_and_their_acks() -> None:
    translator = JournalTranslator(callee)
    translator.replay([INPUT, RunCommand(name="r"), SleepCommand(wake_up_time_ms=1)])

    proposal = translator.run_proposal(
        frame(pb.ProposeRunCompletionMessage(result_completion_id=1, value=b"7"), ack=True)
    )

    assert proposal.completion == Completion(1, Value(b"7")) and proposal.requested_ack
    (ack,) = frames([translator.run_ack(proposal)])
    assert ack.decode() == pb.ProposeRunCompletionAckMessage(completion_id=1)
    with pytest.raises(ProtocolViolationError, match="second time"):
        translator.run_proposal(
            frame(pb.ProposeRunCompletionMessage(result_completion_id=1, value=b"7"))
        )
    with pytest.raises(ProtocolViolationError, match="not a ctx.run"):
        translator.run_proposal(
            frame(pb.ProposeRunCompletionMessage(result_completion_id=2, value=b"7"))
        )


def test_without_the_ack_flag_the_result_itself_is_sent_back() -> None:
    translator = JournalTranslator(callee)
    translator.replay([INPUT, RunCommand(name="r")])
    proposal = translator.run_proposal(
        frame(
            pb.ProposeRunCompletionMessage(
                result_completion_id=1, failure=pb.Failure(code=409, message="no")
            )
        )
    )

    (back,) = frames([translator.run_ack(proposal)])
    assert back.type is MessageType.RUN_COMPLETION
    assert back.decode() == pb.NotificationMessage(
        completion_id=1, failure=pb.Failure(code=409, message="no")
    )


def test_suspension_v6_lists_and_v7_tree_name_command_indices() -> None:
    translator = JournalTranslator(callee)
    translator.replay(
        [
            INPUT,
            SleepCommand(wake_up_time_ms=1),
            SendCommand(service="S", handler="h", invocation_id="i"),
        ]
    )

    v6 = translator.suspension(
        frame(pb.SuspensionMessage(waiting_completions=[1], waiting_signals=[1, 17]))
    )
    assert v6 == Suspended(awaiting=frozenset({1}), signals=frozenset({1, 17}))

    tree = pb.Future(
        combinator_type=pb.ALL_SUCCEEDED_OR_FIRST_FAILED,
        waiting_completions=[1],
        nested_futures=[pb.Future(waiting_named_signals=["go"], waiting_completions=[2])],
    )
    v7 = translator.suspension(frame(pb.SuspensionMessage(awaiting_on=tree)))
    assert v7.awaiting == {1, 2} and v7.named_signals == {"go"}
    assert v7.ready, "a send's invocation id is known at once: resume now"
    assert v7.awaiting_on == AwaitTree(
        Combinator.ALL_SUCCEEDED_OR_FIRST_FAILED,
        commands=(1,),
        nested=(AwaitTree(Combinator.FIRST_COMPLETED, commands=(2,), named_signals=("go",)),),
    )
    with pytest.raises(ProtocolViolationError, match="completion id 9"):
        translator.suspension(frame(pb.SuspensionMessage(waiting_completions=[9])))


def test_error_messages() -> None:
    failed = attempt_failed(
        frame(
            pb.ErrorMessage(
                code=570,
                message="mismatch",
                stacktrace="st",
                related_command_index=3,
                related_command_name="r",
                related_command_type=0x0411,
                next_retry_delay=1500,
                behavior=pb.PAUSE,
            )
        )
    )

    assert failed.code == 570 and failed.command_index == 3 and failed.command_name == "r"
    assert failed.command_type == 0x0411 and failed.retry_after == timedelta(milliseconds=1500)
    assert failed.behavior is ErrorBehavior.PAUSE
    plain = attempt_failed(frame(pb.ErrorMessage(code=500, message="x")))
    assert plain.command_index is None and plain.retry_after is None
    assert plain.behavior is ErrorBehavior.RETRY


def test_output_terminal_failure_keeps_metadata() -> None:
    translator = JournalTranslator(callee)
    translator.replay([INPUT])
    out = pb.OutputCommandMessage(
        failure=pb.Failure(
            code=422, message="bad", metadata=[pb.FailureMetadata(key="k", value="v")]
        )
    )

    (entry,), _ = translator.command(frame(out))

    assert entry == OutputCommand(result=Failure(422, "bad", {"k": "v"}))


def test_named_signals_both_ways() -> None:
    """resolve_signal / reject_signal of a remote SDK become rt's SendSignal commands (and
    replay as the same messages); a journaled named signal reaches the endpoint as its
    signal notification, live and on replay."""
    translator = JournalTranslator(callee)
    translator.replay([INPUT])
    sent = [
        pb.SendSignalCommandMessage(
            target_invocation_id="inv_x", name="go", value=pb.Value(content=b'"yes"')
        ),
        pb.SendSignalCommandMessage(
            target_invocation_id="inv_x", name="go", failure=pb.Failure(code=403, message="no")
        ),
        pb.SendSignalCommandMessage(target_invocation_id="inv_x", name="go", void=pb.Void()),
    ]
    journal = sdk_sends(translator, sent)
    assert journal == [
        SendSignalCommand(invocation_id="inv_x", name="go", result=Value(b'"yes"')),
        SendSignalCommand(invocation_id="inv_x", name="go", result=Failure(403, "no")),
        SendSignalCommand(invocation_id="inv_x", name="go", result=Value(b"")),
    ]
    replayed = frames(JournalTranslator(callee).replay([INPUT, *journal]))[1:]
    assert [f.decode() for f in replayed[:2]] == sent[:2]

    signal = NamedSignal("go", Value(b'"yes"'))
    (live,) = frames([translator.notification(signal) or b""])
    assert live.type is MessageType.SIGNAL_NOTIFICATION
    assert live.decode() == pb.NotificationMessage(
        signal_name="go", value=pb.Value(content=b'"yes"')
    )
    (_, again) = frames(JournalTranslator(callee).replay([INPUT, signal]))
    assert again.decode() == live.decode()


def test_a_suspension_on_named_signals_is_reported() -> None:
    translator = JournalTranslator(callee)
    translator.replay([INPUT])
    suspended = translator.suspension(
        frame(pb.SuspensionMessage(waiting_signals=[1], waiting_named_signals=["go"]))
    )
    assert suspended.named_signals == frozenset({"go"}) and not suspended.awaiting
