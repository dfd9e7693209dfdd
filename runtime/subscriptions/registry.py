"""Subscriptions in the compacted ``<prefix>.registry`` topic: ``subscription/<id>`` → JSON.

A subscription is the record ``subscription/<id>`` → its JSON; removal is a
tombstone. Every node follows the topic (:mod:`runtime.log.registry_topic`), so a
subscription created through any node's admin API runs everywhere and survives
restarts. This module decodes the subscription records for a watcher.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from runtime.log.registry_topic import RegistryFollower as TopicFollower
from runtime.log.registry_topic import RegistryWriteError, write
from runtime.subscriptions.model import REGISTRY_KEY_PREFIX, Subscription

__all__ = ["OnChange", "RegistryFollower", "RegistryWriteError", "subscription_watcher", "write"]

log = logging.getLogger("rt.subscriptions.registry")

OnChange = Callable[[str, Subscription | None], None]


def subscription_watcher(on_change: OnChange) -> Callable[[str, bytes | None], None]:
    """A registry-topic watcher that decodes subscription records for ``on_change``."""

    def on_record(sub_id: str, value: bytes | None) -> None:
        sub: Subscription | None = None
        if value is not None:
            try:
                sub = Subscription.decode(value)
            except (ValueError, KeyError):
                log.error("registry: undecodable subscription record %s, ignored", sub_id)
                return
        on_change(sub_id, sub)

    return on_record


class RegistryFollower(TopicFollower):
    """A registry follower that reports subscription changes only."""

    def __init__(
        self,
        kafka_config: dict[str, Any],
        topic: str,
        loop: asyncio.AbstractEventLoop,
        on_change: OnChange,
    ) -> None:
        super().__init__(kafka_config, topic, loop)
        self.watch(REGISTRY_KEY_PREFIX, subscription_watcher(on_change))
