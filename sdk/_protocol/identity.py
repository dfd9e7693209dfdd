"""Restate's request identity (scheme v1): Ed25519-signed JWTs on requests to endpoints.

Owns both sides of the scheme: :class:`IdentitySigner` (the runtime signs each discovery
and invocation request) and :class:`IdentityVerifier` (``sdk.app`` checks them when
``identity_keys`` are configured). The format is Restate's (ADR 0021 §3):

- headers ``x-restate-signature-scheme: v1`` and ``x-restate-jwt-v1: <JWT>``;
- JWT header ``{"typ": "JWT", "alg": "EdDSA", "kid": <key id>}``, claims ``aud`` (the
  request path normalised to ``/invoke/{service}/{handler}`` or ``/discover``), ``nbf``,
  ``iat``, ``exp`` in Unix seconds;
- key id ``publickeyv1_`` + base58 of the 32 raw bytes of the Ed25519 public key.

Ed25519 is the ``cryptography`` package's; base58 and base64url are written here (a
few lines each) rather than pulling in a JWT library.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

SCHEME_HEADER = "x-restate-signature-scheme"
JWT_HEADER = "x-restate-jwt-v1"
SCHEME_V1 = "v1"
SCHEME_UNSIGNED = "unsigned"
KEY_PREFIX = "publickeyv1_"
TOKEN_LIFETIME_S = 60
"""A token is valid from 60 s before it was signed to 60 s after (Restate's signer)."""

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(_B58)}


class IdentityError(Exception):
    """A request's identity could not be verified (the endpoint answers 401)."""


def b58encode(data: bytes) -> str:
    """Bitcoin-alphabet base58 (leading zero bytes become ``1``)."""
    n = int.from_bytes(data, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = _B58[r] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def b58decode(text: str) -> bytes:
    """Inverse of :func:`b58encode`; ValueError on a character outside the alphabet."""
    n = 0
    for c in text:
        if c not in _B58_INDEX:
            raise ValueError(f"{c!r} is not a base58 character")
        n = n * 58 + _B58_INDEX[c]
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    return b"\0" * (len(text) - len(text.lstrip("1"))) + body


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def key_id(public_key: Ed25519PublicKey) -> str:
    """``publickeyv1_<base58>``: how a public key is named in ``identity_keys``."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return KEY_PREFIX + b58encode(raw)


def parse_key_id(text: str) -> Ed25519PublicKey:
    """The public key named by ``publickeyv1_<base58>``.

    Raises:
        ValueError: not such a key id (prefix, alphabet, or not 32 bytes).
    """
    if not isinstance(text, str) or not text.startswith(KEY_PREFIX):
        raise ValueError(f"identity keys start with {KEY_PREFIX!r}, got {text!r}")
    raw = b58decode(text[len(KEY_PREFIX) :])
    if len(raw) != 32:
        raise ValueError(f"identity key {text!r} decodes to {len(raw)} bytes, not 32")
    return Ed25519PublicKey.from_public_bytes(raw)


def normalize_path(path: str) -> str:
    """The JWT audience of a request path: ``/invoke/S/h`` or ``/discover``, prefix dropped."""
    parts = path.split("/")
    if len(parts) >= 4 and parts[-3] == "invoke":
        return "/" + "/".join(parts[-3:])
    if parts and parts[-1] == "discover" and len(parts) >= 2:
        return "/discover"
    return path


class IdentitySigner:
    """Signs requests to SDK endpoints with an Ed25519 private key.

    Args:
        private_key: the signing key.

    Example:
        >>> signer = IdentitySigner.from_pem(pem)  # doctest: +SKIP
        >>> headers = signer.headers("/invoke/Greeter/greet")  # doctest: +SKIP
    """

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.key_id = key_id(private_key.public_key())
        """``publickeyv1_...``: what endpoints list in ``identity_keys``."""
        header = {"typ": "JWT", "alg": "EdDSA", "kid": self.key_id}
        self._header = _b64url(json.dumps(header, separators=(",", ":")).encode())

    @classmethod
    def from_pem(cls, pem: bytes) -> IdentitySigner:
        """A signer from a PKCS#8 PEM Ed25519 private key (Restate's key file format).

        Raises:
            ValueError: not a PEM private key, or not an Ed25519 one.
        """
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"request identity keys are Ed25519, got {type(key).__name__}")
        return cls(key)

    @classmethod
    def generate(cls) -> IdentitySigner:
        """A signer with a new random key (tests, first-time setup)."""
        return cls(Ed25519PrivateKey.generate())

    def private_pem(self) -> bytes:
        """The private key as PKCS#8 PEM (what :meth:`from_pem` reads)."""
        return self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def token(self, path: str, *, now: float | None = None) -> str:
        """A JWT for a request to ``path`` (normalised), valid for 60 s either side of now."""
        t = int(time.time() if now is None else now)
        claims = {
            "aud": normalize_path(path),
            "exp": t + TOKEN_LIFETIME_S,
            "iat": t,
            "nbf": t - TOKEN_LIFETIME_S,
        }
        signing_input = f"{self._header}.{_b64url(json.dumps(claims).encode())}"
        signature = self._key.sign(signing_input.encode())
        return f"{signing_input}.{_b64url(signature)}"

    def headers(self, path: str, *, now: float | None = None) -> dict[str, str]:
        """The headers that sign a request to ``path`` (add them to the request)."""
        return {SCHEME_HEADER: SCHEME_V1, JWT_HEADER: self.token(path, now=now)}


class IdentityVerifier:
    """Checks that requests were signed by one of ``keys`` (none: everything passes).

    Args:
        keys: ``publickeyv1_...`` key ids.

    Raises:
        ValueError: a malformed key id.
    """

    def __init__(self, keys: Sequence[str]) -> None:
        self.keys = [parse_key_id(k) for k in keys]

    @property
    def enabled(self) -> bool:
        """Keys are configured: requests must be signed."""
        return bool(self.keys)

    def verify(self, headers: Mapping[str, str], path: str, *, now: float | None = None) -> None:
        """Check one request; ``headers`` with lower-case names.

        Raises:
            IdentityError: unsigned, an unknown scheme, a bad or expired token, a token
                for another path, or one no configured key signed.
        """
        if not self.keys:
            return
        scheme = headers.get(SCHEME_HEADER)
        if scheme is None:
            raise IdentityError(f"missing header {SCHEME_HEADER}")
        if scheme == SCHEME_UNSIGNED:
            raise IdentityError("unsigned request; this endpoint accepts only signed requests")
        if scheme != SCHEME_V1:
            raise IdentityError(f"unknown signature scheme {scheme!r}")
        token = headers.get(JWT_HEADER)
        if token is None:
            raise IdentityError(f"missing header {JWT_HEADER}")
        claims = self._signed_claims(token)
        _check_claims(claims, normalize_path(path), time.time() if now is None else now)

    def _signed_claims(self, token: str) -> dict[str, Any]:
        try:
            head_b64, claims_b64, sig_b64 = token.split(".")
            header = json.loads(_unb64url(head_b64))
            claims = json.loads(_unb64url(claims_b64))
            signature = _unb64url(sig_b64)
        except (ValueError, binascii.Error) as e:
            raise IdentityError(f"malformed JWT: {e}") from None
        if not isinstance(header, dict) or header.get("alg") != "EdDSA":
            raise IdentityError("the JWT is not signed with EdDSA")
        if not isinstance(claims, dict):
            raise IdentityError("the JWT's claims are not an object")
        signed = f"{head_b64}.{claims_b64}".encode()
        for key in self.keys:
            try:
                key.verify(signature, signed)
            except InvalidSignature:
                continue
            return claims
        raise IdentityError("the JWT is not signed by any of the configured identity keys")


def _check_claims(claims: dict[str, Any], audience: str, now: float) -> None:
    for name in ("aud", "exp", "iat", "nbf"):
        if name not in claims:
            raise IdentityError(f"the JWT has no {name!r} claim")
    aud = claims["aud"]
    if aud != audience and not (isinstance(aud, list) and audience in aud):
        raise IdentityError(f"the JWT is for {aud!r}, not {audience!r}")
    exp, nbf = claims["exp"], claims["nbf"]
    if not isinstance(exp, int | float) or not isinstance(nbf, int | float):
        raise IdentityError("the JWT's exp and nbf are not numbers")
    if now >= exp:
        raise IdentityError("the JWT has expired")
    if now < nbf:
        raise IdentityError("the JWT is not valid yet")
