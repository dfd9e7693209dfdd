"""Frame layout (pinned bytes), the streaming decoder and its failure modes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime.protocol.errors import ProtocolViolationError
from runtime.protocol.framing import (
    REQUESTED_ACK_FLAG,
    Frame,
    FrameDecoder,
    encode_message,
)
from runtime.protocol.generated import service_protocol_pb2 as pb
from runtime.protocol.messages import MessageType


def test_header_layout_is_type_flags_length_big_endian() -> None:
    frame = encode_message(pb.RunCommandMessage(result_completion_id=1, name="a"))

    payload = pb.RunCommandMessage(result_completion_id=1, name="a").SerializeToString()
    assert frame[:8] == bytes.fromhex("0411 0000") + len(payload).to_bytes(4, "big")
    assert frame[8:] == payload


def test_requested_ack_is_the_top_flag_bit() -> None:
    frame = encode_message(
        pb.ProposeRunCompletionMessage(result_completion_id=3, value=b"1"), requested_ack=True
    )

    assert frame[:4] == bytes.fromhex("0005 8000")
    (decoded,) = FrameDecoder().feed(frame)
    assert decoded.requested_ack


def test_the_ack_flag_means_nothing_on_messages_that_cannot_carry_it() -> None:
    assert not Frame(MessageType.END, REQUESTED_ACK_FLAG, b"").requested_ack


def test_notifications_need_their_kind() -> None:
    msg = pb.NotificationMessage(completion_id=2, void=pb.Void())
    frame = encode_message(msg, kind=MessageType.SLEEP_COMPLETION)

    assert frame[:2] == bytes.fromhex("800c")
    (decoded,) = FrameDecoder().feed(frame)
    assert decoded.decode() == msg


def test_a_frame_fed_byte_by_byte_comes_out_once_whole() -> None:
    frame = encode_message(pb.OutputCommandMessage(value=pb.Value(content=b"x" * 300)))
    decoder = FrameDecoder()

    out = [f for b in frame for f in decoder.feed(bytes([b]))]

    assert len(out) == 1 and out[0].type is MessageType.OUTPUT_COMMAND
    assert decoder.buffered == 0


def test_unknown_and_custom_types_are_refused() -> None:
    with pytest.raises(ProtocolViolationError, match="unknown message type 0x0999"):
        FrameDecoder().feed(bytes.fromhex("0999 0000 00000000"))
    with pytest.raises(ProtocolViolationError, match="unknown custom entry 0xFC01"):
        FrameDecoder().feed(bytes.fromhex("fc01 0000 00000000"))


def test_an_absurd_length_is_refused_before_buffering() -> None:
    decoder = FrameDecoder(max_frame_length=1024)
    with pytest.raises(ProtocolViolationError, match="announces 1025 bytes"):
        decoder.feed(bytes.fromhex("0003 0000 00000401"))


def test_a_payload_that_is_not_the_message_is_refused() -> None:
    frame = Frame(MessageType.START, 0, b"\xff\xff\xff")
    with pytest.raises(ProtocolViolationError, match="cannot decode a START message"):
        frame.decode()


_TYPES = st.sampled_from(list(MessageType))
_FRAMES = st.lists(
    st.builds(
        Frame,
        _TYPES,
        st.sampled_from([0, REQUESTED_ACK_FLAG]),
        st.binary(max_size=200),
    ),
    max_size=12,
)


@given(_FRAMES, st.lists(st.integers(min_value=0, max_value=4000), max_size=10))
def test_any_frames_split_anywhere_decode_to_the_same_frames(
    frames: list[Frame], cuts: list[int]
) -> None:
    stream = b"".join(f.encode() for f in frames)
    points = sorted({min(c, len(stream)) for c in cuts})
    chunks = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    decoder = FrameDecoder()

    decoded = [f for chunk in chunks for f in decoder.feed(chunk)]

    assert decoded == frames
    assert decoder.buffered == 0


@given(st.binary(max_size=64), st.integers(min_value=0, max_value=2**32 - 1))
def test_start_messages_round_trip(id_bytes: bytes, known: int) -> None:
    msg = pb.StartMessage(id=id_bytes, debug_id="inv_x", known_entries=known, partial_state=True)
    (frame,) = FrameDecoder().feed(encode_message(msg))

    assert frame.type is MessageType.START
    assert frame.decode() == msg
