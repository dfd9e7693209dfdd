"""Serializers for handler I/O, state, ``ctx.run`` results, awakeables and promises.

Mirrors ``restate.serde``. :class:`DefaultSerde` picks a codec from a type hint
(pydantic models, dataclasses, msgspec Structs, TypedDicts, containers,
primitives, raw ``bytes``); the handler decorators give it the handler's
annotations, so most code never names a serde. Empty bytes and ``None`` map to
each other.

Example:
    >>> from sdk.serde import DefaultSerde
    >>> DefaultSerde(list[int]).serialize([1, 2])
    b'[1,2]'
    >>> DefaultSerde(list[int]).deserialize(b"[1,2]")
    [1, 2]
"""

from __future__ import annotations

import abc
import json
import typing
from typing import Any, Generic, TypeVar

from sdk._serde_infer import codec_for, is_msgspec_struct, is_pydantic_model

__all__ = [
    "BytesSerde",
    "DefaultSerde",
    "JsonSerde",
    "MsgspecJsonSerde",
    "PydanticJsonSerde",
    "Serde",
]

T = TypeVar("T")
I = TypeVar("I")  # noqa: E741 - name mirrors restate-sdk


class Serde(Generic[T], abc.ABC):
    """Serializer/deserializer interface: subclass it for a custom wire format."""

    @abc.abstractmethod
    def deserialize(self, buf: bytes) -> T | None:
        """Turn bytes into a value (``None`` for an empty payload where that applies)."""

    @abc.abstractmethod
    def serialize(self, obj: T | None) -> bytes:
        """Turn a value into bytes."""


class BytesSerde(Serde[bytes]):
    """Raw bytes, unchanged. Pair with ``accept="*/*"`` and a binary content type."""

    def deserialize(self, buf: bytes) -> bytes | None:
        """Return ``buf`` unchanged."""
        return bytes(buf)

    def serialize(self, obj: bytes | None) -> bytes:
        """Return ``obj`` unchanged (``None`` becomes empty bytes)."""
        return b"" if obj is None else bytes(obj)


class JsonSerde(Serde[I]):
    """Plain JSON through the standard library (``json.dumps``/``json.loads``)."""

    def deserialize(self, buf: bytes) -> I | None:
        """Parse JSON; empty bytes give ``None``."""
        if not buf:
            return None
        return typing.cast(I, json.loads(buf))

    def serialize(self, obj: I | None) -> bytes:
        """Dump JSON; ``None`` gives empty bytes."""
        if obj is None:
            return b""
        return json.dumps(obj).encode()


class DefaultSerde(Serde[I]):
    """JSON chosen by type hint; the serde every API uses unless told otherwise.

    Args:
        type_hint: The value's type. Without one, values are encoded by their
            runtime type and decoded as plain JSON values.
    """

    def __init__(self, type_hint: type[I] | None = None) -> None:
        self.type_hint: Any = type_hint

    def with_maybe_type(self, type_hint: type[I] | None = None) -> DefaultSerde[I]:
        """Return a new DefaultSerde for ``type_hint`` (this one is not modified)."""
        return DefaultSerde(type_hint)

    def deserialize(self, buf: bytes) -> I | None:
        """Decode ``buf`` as the hinted type; empty bytes give ``None``."""
        return typing.cast("I | None", codec_for(self.type_hint).decode(buf))

    def serialize(self, obj: I | None) -> bytes:
        """Encode ``obj`` as JSON (or raw bytes for a ``bytes`` hint)."""
        return codec_for(self.type_hint).encode(obj)

    def __repr__(self) -> str:
        return f"DefaultSerde({self.type_hint!r})"


class PydanticJsonSerde(Serde[I]):
    """A pydantic model to/from JSON (``model_dump_json``/``model_validate_json``).

    Args:
        model: The ``pydantic.BaseModel`` subclass.
    """

    def __init__(self, model: type[Any]) -> None:
        if not is_pydantic_model(model):
            raise TypeError(f"PydanticJsonSerde needs a pydantic BaseModel subclass, got {model!r}")
        self.model = model

    def deserialize(self, buf: bytes) -> I | None:
        """Validate JSON into the model; empty bytes give ``None``."""
        return typing.cast("I | None", codec_for(self.model).decode(buf))

    def serialize(self, obj: I | None) -> bytes:
        """Dump the model as JSON."""
        return codec_for(self.model).encode(obj)


class MsgspecJsonSerde(Serde[I]):
    """A msgspec ``Struct`` to/from JSON.

    Args:
        model: The ``msgspec.Struct`` subclass.
    """

    def __init__(self, model: type[Any]) -> None:
        if not is_msgspec_struct(model):
            raise TypeError(f"MsgspecJsonSerde needs a msgspec Struct subclass, got {model!r}")
        self.model = model

    def deserialize(self, buf: bytes) -> I | None:
        """Decode JSON into the Struct; empty bytes give ``None``."""
        return typing.cast("I | None", codec_for(self.model).decode(buf))

    def serialize(self, obj: I | None) -> bytes:
        """Encode the Struct as JSON."""
        return codec_for(self.model).encode(obj)
