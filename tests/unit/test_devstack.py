"""Pure parts of the local stack."""

from __future__ import annotations

from runtime.devstack.kafka import _cluster_id


def test_cluster_ids_never_look_like_cli_options() -> None:
    ids = {_cluster_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(len(i) == 22 and not i.startswith("-") for i in ids)
