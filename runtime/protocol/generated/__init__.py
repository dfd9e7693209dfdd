"""Moved to ``sdk/_protocol/generated/`` (reached as ``sdk.protocol.pb``); kept so imports work."""

from sdk.protocol import pb as service_protocol_pb2

__all__ = ["service_protocol_pb2"]
