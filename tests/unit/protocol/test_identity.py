"""Restate's request identity scheme v1: key ids, signing, verification (ADR 0021 §3)."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import serialization

from sdk._protocol.identity import b58decode, b58encode, normalize_path, parse_key_id
from sdk.protocol import IdentityError, IdentitySigner, IdentityVerifier

NOW = 1_800_000_000.0


def test_a_public_key_is_named_as_restate_names_it() -> None:
    # The public half of the example key in Restate's signer tests, and the key id the
    # Restate server derives from it.
    pem = (
        b"-----BEGIN PUBLIC KEY-----\n"
        b"MCowBQYDK2VwAyEAj5BTvH+WJo0QGHm2hdLOuk6P7szKgTQxmpnnmZe/DcU=\n"
        b"-----END PUBLIC KEY-----\n"
    )
    key = serialization.load_pem_public_key(pem)
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert "publickeyv1_" + b58encode(raw) == (
        "publickeyv1_AfQwmwfgEZhrWpvv8N52SHpRtZqGGaFr4AZN6qtYWSiY"
    )
    parsed = parse_key_id("publickeyv1_AfQwmwfgEZhrWpvv8N52SHpRtZqGGaFr4AZN6qtYWSiY")
    assert parsed.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw) == raw


@pytest.mark.parametrize("data", [b"", b"\0", b"\0\0\x01", b"hello", bytes(range(32))])
def test_base58_round_trips(data: bytes) -> None:
    assert b58decode(b58encode(data)) == data


@pytest.mark.parametrize(
    ("path", "audience"),
    [
        ("/invoke/a/b", "/invoke/a/b"),
        ("/foo/invoke/a/b", "/invoke/a/b"),
        ("/foo/bar/invoke/a/b", "/invoke/a/b"),
        ("/discover", "/discover"),
        ("/foo/discover", "/discover"),
        ("/foo", "/foo"),
        ("/invoke/a", "/invoke/a"),
    ],
)
def test_paths_are_normalised_like_the_restate_sdks(path: str, audience: str) -> None:
    assert normalize_path(path) == audience


def _claims(token: str) -> dict[str, object]:
    part = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


def test_a_signed_request_verifies_and_carries_restates_claims() -> None:
    signer = IdentitySigner.generate()
    headers = signer.headers("/prefix/invoke/Greeter/greet", now=NOW)
    assert headers["x-restate-signature-scheme"] == "v1"
    assert _claims(headers["x-restate-jwt-v1"]) == {
        "aud": "/invoke/Greeter/greet",
        "exp": NOW + 60,
        "iat": NOW,
        "nbf": NOW - 60,
    }
    verifier = IdentityVerifier(["publickeyv1_AfQwmwfgEZhrWpvv8N52SHpRtZqGGaFr4AZN6qtYWSiY"])
    with pytest.raises(IdentityError, match="not signed by any"):
        verifier.verify(headers, "/invoke/Greeter/greet", now=NOW)
    IdentityVerifier([signer.key_id]).verify(headers, "/invoke/Greeter/greet", now=NOW)
    two = IdentityVerifier(
        ["publickeyv1_AfQwmwfgEZhrWpvv8N52SHpRtZqGGaFr4AZN6qtYWSiY", signer.key_id]
    )
    two.verify(headers, "/other/invoke/Greeter/greet", now=NOW)


def test_the_signer_reads_its_pem_back() -> None:
    signer = IdentitySigner.generate()
    assert IdentitySigner.from_pem(signer.private_pem()).key_id == signer.key_id


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda h: {}, "missing header x-restate-signature-scheme"),
        (lambda h: {**h, "x-restate-signature-scheme": "unsigned"}, "unsigned"),
        (lambda h: {**h, "x-restate-signature-scheme": "v2"}, "unknown signature scheme"),
        (lambda h: {"x-restate-signature-scheme": "v1"}, "missing header x-restate-jwt-v1"),
        (lambda h: {**h, "x-restate-jwt-v1": "abc"}, "malformed"),
        (lambda h: {**h, "x-restate-jwt-v1": h["x-restate-jwt-v1"][:-4] + "AAAA"}, "not signed"),
    ],
)
def test_what_is_refused(change: object, error: str) -> None:
    signer = IdentitySigner.generate()
    headers = signer.headers("/invoke/S/h", now=NOW)
    with pytest.raises(IdentityError, match=error):
        IdentityVerifier([signer.key_id]).verify(change(headers), "/invoke/S/h", now=NOW)  # type: ignore[operator]


def test_expiry_not_before_and_audience_are_checked_without_leeway() -> None:
    signer = IdentitySigner.generate()
    verifier = IdentityVerifier([signer.key_id])
    headers = signer.headers("/invoke/S/h", now=NOW)
    verifier.verify(headers, "/invoke/S/h", now=NOW + 59)
    verifier.verify(headers, "/invoke/S/h", now=NOW - 60)
    with pytest.raises(IdentityError, match="expired"):
        verifier.verify(headers, "/invoke/S/h", now=NOW + 60)
    with pytest.raises(IdentityError, match="not valid yet"):
        verifier.verify(headers, "/invoke/S/h", now=NOW - 61)
    with pytest.raises(IdentityError, match="is for '/invoke/S/h', not '/invoke/S/other'"):
        verifier.verify(headers, "/invoke/S/other", now=NOW)
    with pytest.raises(IdentityError, match="not '/discover'"):
        verifier.verify(headers, "/discover", now=NOW)


def test_no_keys_verifies_nothing_and_bad_keys_fail_at_once() -> None:
    IdentityVerifier([]).verify({}, "/invoke/S/h")
    for bad in (
        "AfQwmwfgEZhrWpvv8N52SHpRtZqGGaFr4AZN6qtYWSiY",
        "publickeyv1_0OIl",
        "publickeyv1_abc",
    ):
        with pytest.raises(ValueError):
            IdentityVerifier([bad])
