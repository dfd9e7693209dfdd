"""rt's Kafka topics: names (with the cluster prefix) and idempotent creation.

NEVER CHANGE the name suffixes: they are how a restarted rt finds its log.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic


@dataclass(frozen=True)
class TopicNames:
    """Topic names of one rt cluster."""

    prefix: str = "rt"

    @property
    def log(self) -> str:
        """The partitioned log of invocation commands and journal entries."""
        return f"{self.prefix}.log"

    @property
    def registry(self) -> str:
        """Compacted: deployments, services, subscriptions."""
        return f"{self.prefix}.registry"


class TopicMismatchError(RuntimeError):
    """An existing topic does not have the layout this rt cluster needs."""


def ensure_topics(
    admin_config: dict[str, Any],
    names: TopicNames,
    partitions: int,
    replication_factor: int = 1,
    timeout: float = 30.0,
) -> None:
    """Create rt's topics if missing; verify the partition count of an existing log.

    P is fixed at creation (routing depends on it), so an existing ``rt.log``
    with a different partition count is an error, never silently accepted.
    """
    admin = AdminClient(admin_config)
    wanted = [
        NewTopic(
            names.log,
            num_partitions=partitions,
            replication_factor=replication_factor,
            config={"cleanup.policy": "delete", "retention.ms": "-1", "retention.bytes": "-1"},
        ),
        NewTopic(
            names.registry,
            num_partitions=1,
            replication_factor=replication_factor,
            config={"cleanup.policy": "compact"},
        ),
    ]
    futures = admin.create_topics(wanted, operation_timeout=timeout, request_timeout=timeout)
    for fut in futures.values():
        try:
            fut.result()
        except KafkaException as e:
            err = e.args[0]
            if err.code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
    # A just-created topic can take a moment to appear in metadata.
    deadline = time.monotonic() + timeout
    while True:
        md = admin.list_topics(timeout=timeout)
        log_md = md.topics.get(names.log)
        if log_md is not None and log_md.error is None and log_md.partitions:
            break
        if time.monotonic() > deadline:
            problem = log_md.error if log_md is not None else "missing from metadata"
            raise TopicMismatchError(f"topic {names.log} is not available: {problem}")
        time.sleep(0.1)
    if len(log_md.partitions) != partitions:
        raise TopicMismatchError(
            f"topic {names.log} has {len(log_md.partitions)} partitions but rt is configured "
            f"with {partitions}; the partition count is fixed when the log is created "
            f"(use --partitions {len(log_md.partitions)} or a new --topic-prefix)"
        )
