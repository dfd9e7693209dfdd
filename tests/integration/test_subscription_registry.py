"""The registry follower against real Kafka: start-up state is reported collapsed."""

from __future__ import annotations

import asyncio
import logging

import pytest
from confluent_kafka import Producer

from runtime.log.topics import TopicNames, ensure_topics
from runtime.subscriptions import registry as reg
from runtime.subscriptions.model import Subscription
from tests.conftest import Infra


async def test_removed_subscription_is_never_reported_at_start_up(
    infra: Infra, prefix: str
) -> None:
    """A create followed by its tombstone (not compacted yet) must not start an intake
    for a moment on restart: that intake would consume records produced after the removal."""
    names = TopicNames(prefix)
    ensure_topics(infra.kafka_config(), names, 2)
    gone = Subscription("sub_gone", f"kafka://default/{prefix}.t", "service://S/h")
    kept = Subscription("sub_kept", f"kafka://default/{prefix}.t", "service://S/h")
    producer = Producer(infra.kafka_config(acks="all"))
    for key, value in (
        (gone.registry_key(), gone.encode()),
        (kept.registry_key(), kept.encode()),
        (gone.registry_key(), None),
    ):
        reg.write(producer, names.registry, key, value, 30.0)

    seen: list[tuple[str, Subscription | None]] = []
    follower = reg.RegistryFollower(
        infra.kafka_config(),
        names.registry,
        asyncio.get_running_loop(),
        lambda sub_id, sub: seen.append((sub_id, sub)),
    )
    follower.start()
    try:
        assert await asyncio.to_thread(follower.caught_up.wait, 30)
        await asyncio.sleep(0)  # caught_up is set after the reports ran on the loop
        assert sorted(seen, key=lambda s: s[0]) == [("sub_gone", None), ("sub_kept", kept)]
        # After start-up, changes are reported as they come.
        reg.write(producer, names.registry, kept.registry_key(), None, 30.0)
        for _ in range(100):
            if len(seen) == 3:
                break
            await asyncio.sleep(0.1)
        assert seen[-1] == ("sub_kept", None)
    finally:
        await asyncio.to_thread(follower.stop)


async def test_a_registry_topic_not_there_yet_is_waited_for_without_tracebacks(
    infra: Infra, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    """At start-up the topic may be missing or leaderless for a moment: the follower logs one
    line per try (no traceback) and catches up as soon as the topic is there."""
    names = TopicNames(prefix)
    follower = reg.RegistryFollower(
        infra.kafka_config(), names.registry, asyncio.get_running_loop(), lambda *_: None
    )
    caplog.set_level(logging.WARNING, logger="rt.subscriptions.registry")
    follower.start()
    try:
        for _ in range(100):
            if caplog.records:
                break
            await asyncio.sleep(0.05)
        assert caplog.records, "the missing topic was reported"
        ensure_topics(infra.kafka_config(), names, 2)
        assert await asyncio.to_thread(follower.caught_up.wait, 30)
    finally:
        await asyncio.to_thread(follower.stop)
    assert all(r.levelno == logging.WARNING and r.exc_info is None for r in caplog.records)
    assert "retrying" in caplog.records[0].getMessage()
