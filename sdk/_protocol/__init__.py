"""Restate's service invocation protocol, the part both sides need (private).

Owns the codec of protocol versions 5-7: the protobuf messages (``generated/``, from
``proto/`` by ``scripts/gen_proto.sh``), their type ids (``messages``), framing
(``framing``), version negotiation and content types (``versions``), the error
hierarchy (``errors``), remote awakeable ids (``awakeables``), and the translation
between protocol messages and rt's journal (``translate`` for the runtime side,
``progress`` for what it reports). No I/O. The runtime reaches it through
:mod:`sdk.protocol`; the SDK's endpoint (``sdk.app``) uses it directly. See
docs/decisions/0018-service-protocol.md and 0021-remote-sdk-and-builtins.md.
"""
