"""Remote SDKs' awakeable ids (``sign_1...``)."""

from __future__ import annotations

import pytest

from runtime.protocol.awakeables import parse_signal_awakeable_id, signal_awakeable_id


def test_the_id_restate_sdk_1_2_0_builds_is_reproduced() -> None:
    # Seen from restate-sdk 1.2.0 for invocation inv_EUxBb16J1GPdJjKiTo2cLN769ED, signal 17.
    sdk_id = "sign_1aW52X0VVeEJiMTZKMUdQZEpqS2lUbzJjTE43NjlFRAAAABE"

    assert signal_awakeable_id("inv_EUxBb16J1GPdJjKiTo2cLN769ED", 17) == sdk_id
    assert parse_signal_awakeable_id(sdk_id) == ("inv_EUxBb16J1GPdJjKiTo2cLN769ED", 17)


@pytest.mark.parametrize("bad", ["prom_1abc", "sign_1", "sign_1!!!", "sign_1AAAA"])
def test_malformed_ids_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="awakeable id"):
        parse_signal_awakeable_id(bad)
