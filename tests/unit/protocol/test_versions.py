"""Version negotiation and content types."""

from __future__ import annotations

import pytest

from runtime.protocol.errors import UnsupportedProtocolVersionError
from runtime.protocol.versions import (
    check_protocol_version,
    invocation_content_type,
    manifest_accept_header,
    negotiate_protocol_version,
    parse_manifest_content_type,
)


@pytest.mark.parametrize(
    ("low", "high", "chosen"), [(5, 7, 7), (5, 5, 5), (6, 9, 7), (1, 6, 6), (7, 7, 7)]
)
def test_the_newest_common_version_is_chosen(low: int, high: int, chosen: int) -> None:
    assert negotiate_protocol_version(low, high) == chosen


@pytest.mark.parametrize(
    ("low", "high", "hint"),
    [(1, 4, "upgrade the SDK"), (8, 9, "newer than rt supports"), (7, 5, "minProtocolVersion")],
)
def test_ranges_without_overlap_are_refused_with_a_hint(low: int, high: int, hint: str) -> None:
    with pytest.raises(UnsupportedProtocolVersionError, match=hint):
        negotiate_protocol_version(low, high)


def test_content_types() -> None:
    assert invocation_content_type(7) == "application/vnd.restate.invocation.v7"
    assert manifest_accept_header().startswith(
        "application/vnd.restate.endpointmanifest.v4+json, "
        "application/vnd.restate.endpointmanifest.v3+json"
    )
    assert parse_manifest_content_type("application/vnd.restate.endpointmanifest.v3+json") == 3
    assert parse_manifest_content_type("application/json") is None


def test_only_versions_5_to_7_are_spoken() -> None:
    assert check_protocol_version(5) == 5
    with pytest.raises(UnsupportedProtocolVersionError, match="supported: 5-7"):
        check_protocol_version(4)
