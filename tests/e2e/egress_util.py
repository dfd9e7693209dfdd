"""Helpers for egress tests: output topics and read_committed readers."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from confluent_kafka import Consumer, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from tests.conftest import Infra


def create_topic(infra: Infra, name: str, partitions: int = 3) -> None:
    admin = AdminClient(infra.kafka_config())
    for fut in admin.create_topics([NewTopic(name, num_partitions=partitions)]).values():
        fut.result(30)
    deadline = time.monotonic() + 30
    while name not in admin.list_topics(timeout=10).topics:
        assert time.monotonic() < deadline, f"topic {name} not visible"
        time.sleep(0.1)


def committed_reader(infra: Infra, topic: str) -> Consumer:
    c = Consumer(
        infra.kafka_config(
            **{
                "group.id": f"reader-{uuid.uuid4().hex[:8]}",
                "isolation.level": "read_committed",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
    )
    c.subscribe([topic])
    return c


def read_json(c: Consumer, want: int, timeout: float, settle: float = 3.0) -> list[Any]:
    """Read until ``want`` records arrived (then ``settle`` s more, to catch duplicates)."""
    out: list[Any] = []
    deadline = time.monotonic() + timeout
    settle_until: float | None = None
    while True:
        now = time.monotonic()
        if settle_until is None and len(out) >= want:
            settle_until = now + settle
        if (settle_until is not None and now > settle_until) or now > deadline:
            return out
        m = c.poll(0.2)
        if m is None:
            continue
        err = m.error()
        if err is not None:
            if err.fatal():
                raise KafkaException(err)
            continue
        out.append(json.loads(m.value() or b"null"))
