"""Pick a JSON codec from a type hint (private).

One rule set serves handler input/output, ``ctx.run`` results, state, awakeables
and promises, so pydantic models, dataclasses, msgspec Structs, TypedDicts,
containers and primitives round-trip everywhere without user-written
converters:

- no hint (or ``Any``): JSON by the value's runtime type on the way out
  (pydantic models, dataclasses and Structs included), plain JSON values back;
- ``bytes``: raw pass-through;
- a hint mentioning a pydantic model anywhere (``Model``, ``list[Model]``...):
  pydantic (``TypeAdapter``), which validates;
- anything else msgspec understands (dataclasses, Structs, TypedDict,
  ``list``/``dict``/``tuple``, ``Optional``, ``Literal``, enums, primitives):
  msgspec JSON, which validates strictly;
- otherwise pydantic, and as a last resort plain JSON.

Empty bytes and ``None`` map to each other, as in restate-sdk.
"""

from __future__ import annotations

import functools
import types
import typing
from collections.abc import Callable
from typing import Any

import msgspec
import pydantic

_NONE_TYPES: tuple[Any, ...] = (None, type(None))


def _enc_hook(obj: Any) -> Any:
    if isinstance(obj, pydantic.BaseModel):
        return obj.model_dump(mode="json")
    raise NotImplementedError(f"cannot serialize objects of type {type(obj).__name__} to JSON")


_plain_encoder = msgspec.json.Encoder(enc_hook=_enc_hook)
_plain_decoder = msgspec.json.Decoder()


def is_pydantic_model(hint: Any) -> bool:
    """True when ``hint`` is a pydantic ``BaseModel`` subclass."""
    return isinstance(hint, type) and issubclass(hint, pydantic.BaseModel)


def is_msgspec_struct(hint: Any) -> bool:
    """True when ``hint`` is a msgspec ``Struct`` subclass."""
    return isinstance(hint, type) and issubclass(hint, msgspec.Struct)


def is_raw_bytes(hint: Any) -> bool:
    """True for ``bytes`` (optionally ``bytes | None``): payloads pass through unchanged."""
    core, _ = unwrap_optional(hint)
    return core in (bytes, bytearray)


def unwrap_optional(hint: Any) -> tuple[Any, bool]:
    """Split ``X | None`` into ``(X, True)``; other hints return ``(hint, False)``."""
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        args = [a for a in typing.get_args(hint) if a not in _NONE_TYPES]
        if len(args) < len(typing.get_args(hint)):
            if len(args) == 1:
                return args[0], True
            return typing.Union[tuple(args)], True  # noqa: UP007 - built at runtime
    return hint, False


def _mentions_pydantic(hint: Any, depth: int = 0) -> bool:
    if depth > 8:
        return False
    if is_pydantic_model(hint):
        return True
    return any(_mentions_pydantic(a, depth + 1) for a in typing.get_args(hint))


class Codec:
    """Encodes values of one hint to JSON bytes and back (``None`` <-> ``b""``)."""

    def __init__(
        self,
        encode: Callable[[Any], bytes],
        decode: Callable[[bytes], Any],
        schema: Callable[[], Any] | None,
        kind: str,
    ) -> None:
        self._encode = encode
        self._decode = decode
        self._schema = schema
        self.kind = kind
        """One of ``plain``, ``raw``, ``pydantic``, ``msgspec``, ``json``; for diagnostics."""

    def encode(self, obj: Any) -> bytes:
        """Serialize ``obj``; ``None`` becomes empty bytes."""
        if obj is None:
            return b""
        return self._encode(obj)

    def decode(self, buf: bytes) -> Any:
        """Deserialize ``buf``; empty bytes become ``None`` (raw bytes stay bytes)."""
        if self.kind == "raw":
            return bytes(buf)
        if not buf:
            return None
        return self._decode(bytes(buf))

    def json_schema(self) -> Any:
        """The JSON schema of the hint, or None when it cannot be derived."""
        if self._schema is None:
            return None
        try:
            return self._schema()
        except Exception:  # schema generation is best effort (discovery only)
            return None


def _plain_codec() -> Codec:
    return Codec(_plain_encoder.encode, _plain_decoder.decode, None, "plain")


def _raw_codec() -> Codec:
    return Codec(bytes, bytes, lambda: {"type": "string", "format": "binary"}, "raw")


def _pydantic_codec(hint: Any) -> Codec:
    adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(hint)
    if is_pydantic_model(hint):
        model = typing.cast(type[pydantic.BaseModel], hint)

        def encode_model(obj: Any) -> bytes:
            if isinstance(obj, pydantic.BaseModel):
                return obj.model_dump_json().encode()
            return adapter.dump_json(obj)

        return Codec(
            encode_model,
            model.model_validate_json,
            lambda: model.model_json_schema(mode="serialization"),
            "pydantic",
        )
    return Codec(adapter.dump_json, adapter.validate_json, adapter.json_schema, "pydantic")


def _msgspec_codec(hint: Any) -> Codec:
    decoder = msgspec.json.Decoder(hint)
    encoder = msgspec.json.Encoder(enc_hook=_enc_hook)
    return Codec(encoder.encode, decoder.decode, lambda: msgspec.json.schema(hint), "msgspec")


def _build_codec(hint: Any) -> Codec:
    if hint is None or hint is type(None) or hint is Any or hint is object:
        return _plain_codec()
    core, _ = unwrap_optional(hint)
    if core in (bytes, bytearray):
        return _raw_codec()
    if _mentions_pydantic(hint):
        return _pydantic_codec(core if is_pydantic_model(core) else hint)
    try:
        return _msgspec_codec(hint)
    except TypeError:
        pass
    try:
        return _pydantic_codec(hint)
    except (pydantic.PydanticSchemaGenerationError, pydantic.PydanticUserError, TypeError):
        return _plain_codec()


@functools.lru_cache(maxsize=512)
def _cached_codec(hint: Any) -> Codec:
    return _build_codec(hint)


def codec_for(hint: Any) -> Codec:
    """Return the codec for ``hint`` (cached when the hint is hashable)."""
    try:
        return _cached_codec(hint)
    except TypeError:  # unhashable hint
        return _build_codec(hint)


def resolve_type_hints(fn: Callable[..., Any]) -> dict[str, Any]:
    """``typing.get_type_hints`` with a clear error when an annotation cannot be resolved."""
    try:
        return typing.get_type_hints(fn)
    except Exception as e:
        name = getattr(fn, "__qualname__", repr(fn))
        raise TypeError(
            f"cannot resolve the type annotations of {name}: {type(e).__name__}: {e}. "
            "Annotations must name types that exist when the handler is decorated."
        ) from e
