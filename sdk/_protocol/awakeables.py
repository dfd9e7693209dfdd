"""Awakeable ids of remote SDKs (protocol v5+): ``sign_1`` + base64url(id bytes + u32 index).

Owns reading and writing that format. A remote SDK builds the id from
``StartMessage.id`` (rt sends the invocation id's text) and the awakeable's signal
index (17, 18, ... per invocation); resolving it means delivering that signal to
that invocation.
"""

from __future__ import annotations

import base64
import binascii
import struct

AWAKEABLE_PREFIX = "sign_1"


def signal_awakeable_id(invocation_id: str | bytes, signal_index: int) -> str:
    """The id a remote SDK gives awakeable ``signal_index`` of ``invocation_id``.

    ``invocation_id`` is the ``StartMessage`` id: bytes as received (Restate sends its
    binary id), or text (rt sends the ``inv_...`` text, encoded as UTF-8).
    """
    raw_id = invocation_id.encode() if isinstance(invocation_id, str) else invocation_id
    raw = raw_id + struct.pack(">I", signal_index)
    return AWAKEABLE_PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def parse_signal_awakeable_id(awakeable_id: str) -> tuple[str, int]:
    """``(invocation_id, signal_index)`` of a remote SDK's awakeable id.

    Raises:
        ValueError: not such an id.
    """
    if not awakeable_id.startswith(AWAKEABLE_PREFIX):
        raise ValueError(f"not a signal awakeable id: {awakeable_id!r}")
    text = awakeable_id[len(AWAKEABLE_PREFIX) :]
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        invocation_id = raw[:-4].decode()
    except (binascii.Error, UnicodeDecodeError) as e:
        raise ValueError(f"bad signal awakeable id {awakeable_id!r}: {e}") from None
    if len(raw) < 5:
        raise ValueError(f"bad signal awakeable id {awakeable_id!r}: too short")
    (index,) = struct.unpack(">I", raw[-4:])
    return invocation_id, index
