"""Which topics an emit may target: existing, and not rt's own or Kafka's internal ones."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from confluent_kafka.admin import AdminClient

from runtime.log.topics import TopicNames

log = logging.getLogger("rt.egress")

REFRESH_S = 1.0
"""A miss re-reads the topic list at most this often (the emit call blocks on it)."""


class TopicCatalog:
    """Cached topic names of the cluster, for ``sdk.kafka.emit``'s topic check.

    The node gives :meth:`check` to its in-process invoker, which hands it to the
    ``InvocationDriver`` of every attempt (``topic_check=``): an emit to a topic that
    does not exist fails at the call.

    Listing all topics never auto-creates one (a metadata request naming the topic
    could, on brokers with ``auto.create.topics.enable``).
    """

    def __init__(self, admin_config: dict[str, Any], names: TopicNames) -> None:
        self._admin = AdminClient(admin_config)
        self._internal = {names.log, names.registry}
        self._known: set[str] = set()
        self._refreshed = 0.0
        self._lock = threading.Lock()

    def check(self, topic: str) -> str | None:
        if topic in self._internal or topic.startswith("__"):
            return f"topic {topic!r} is internal and cannot take egress records"
        if topic in self._known:
            return None
        with self._lock:
            if topic not in self._known and time.monotonic() - self._refreshed > REFRESH_S:
                self._refresh()
        if topic in self._known:
            return None
        return f"topic {topic!r} does not exist (create it before emitting to it)"

    def _refresh(self) -> None:
        try:
            md = self._admin.list_topics(timeout=10)
        except Exception:  # noqa: BLE001 - unknown is safer than a crash; retried next miss
            log.warning("listing topics failed", exc_info=True)
            return
        self._known = {name for name, t in md.topics.items() if t.error is None}
        self._refreshed = time.monotonic()
