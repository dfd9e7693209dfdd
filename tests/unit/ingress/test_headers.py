"""Header value checks: visible ASCII and tab pass, any other byte is a 400."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime.ingress.errors import IngressError
from runtime.ingress.headers import first_header, header_text


def _visible(raw: bytes) -> bool:
    return all(32 <= b < 127 or b == 9 for b in raw)


@given(st.binary(max_size=64))
def test_header_text_accepts_exactly_visible_ascii_and_tab(raw: bytes) -> None:
    if _visible(raw):
        assert header_text("x-h", raw) == raw.decode("ascii")
    else:
        with pytest.raises(IngressError, match="bad header x-h"):
            header_text("x-h", raw)


@pytest.mark.parametrize("bad", [b"a\x00b", b"\x7f", b"caf\xc3\xa9", b"line\nbreak", b"\x1f"])
def test_control_and_non_ascii_bytes_are_refused(bad: bytes) -> None:
    with pytest.raises(IngressError) as caught:
        header_text("x-h", bad)
    assert caught.value.status == 400


def test_first_header_is_case_insensitive_and_first_wins() -> None:
    raw = [(b"Content-Length", b"12"), (b"content-length", b"13")]
    assert first_header(raw, "content-length") == "12"
    assert first_header(raw, "idempotency-key") is None
