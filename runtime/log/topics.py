"""rt's Kafka topics: names (with the cluster prefix) and idempotent creation.

NEVER CHANGE the name suffixes: they are how a restarted rt finds its log.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

# Not re-exported by confluent_kafka.admin's stubs; their defining modules are.
from confluent_kafka.admin._config import AlterConfigOpType, ConfigEntry, ConfigResource
from confluent_kafka.admin._resource import ResourceType
from confluent_kafka.cimpl import NewTopic

DEFAULT_MAX_RECORD_BYTES = 11 << 20
"""Largest rt.log record by default: the default ``max_payload_bytes`` (10 MiB) plus 1 MiB
for what a record holds besides its payload (``Settings.log_record_limit``)."""
KAFKA_FRAMING_BYTES = 64 << 10
"""Room for Kafka's batch and record framing above the largest record rt writes."""
MAX_MESSAGE_BYTES = "max.message.bytes"


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
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
) -> None:
    """Create rt's topics if missing; verify the partition count of an existing log.

    P is fixed at creation (routing depends on it), so an existing ``rt.log``
    with a different partition count is an error, never silently accepted.

    Both topics take records of ``max_record_bytes`` (``max.message.bytes``, the broker's
    default is 1 MB); an existing topic that takes less is altered to take it, so a raised
    ``max_payload_bytes`` works after a restart.

    Raises:
        TopicMismatchError: The log's partition count differs, or a topic's
            ``max.message.bytes`` is too small and cannot be altered.
    """
    admin = AdminClient(admin_config)
    max_message = str(max_record_bytes + KAFKA_FRAMING_BYTES)
    wanted = [
        NewTopic(
            names.log,
            num_partitions=partitions,
            replication_factor=replication_factor,
            config={
                "cleanup.policy": "delete",
                "retention.ms": "-1",
                "retention.bytes": "-1",
                MAX_MESSAGE_BYTES: max_message,
            },
        ),
        NewTopic(
            names.registry,
            num_partitions=1,
            replication_factor=replication_factor,
            config={"cleanup.policy": "compact", MAX_MESSAGE_BYTES: max_message},
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
    _ensure_max_message_bytes(admin, [names.log, names.registry], int(max_message), timeout)


def _ensure_max_message_bytes(
    admin: AdminClient, topics: list[str], wanted: int, timeout: float
) -> None:
    """Raise ``max.message.bytes`` of existing ``topics`` that take less than ``wanted``."""
    resources = [ConfigResource(ResourceType.TOPIC, t) for t in topics]
    small: list[ConfigResource] = []
    for res, fut in admin.describe_configs(resources, request_timeout=timeout).items():
        try:
            entry = fut.result().get(MAX_MESSAGE_BYTES)
        except KafkaException as e:
            raise TopicMismatchError(
                f"cannot read the configuration of topic {res.name} to check that it takes "
                f"records of {wanted} bytes (max_payload_bytes plus headroom): "
                f"{e.args[0] if e.args else e}"
            ) from None
        if entry is None or entry.value is None or int(entry.value) < wanted:
            small.append(res)
    for res in small:
        res.add_incremental_config(
            ConfigEntry(MAX_MESSAGE_BYTES, str(wanted), incremental_operation=AlterConfigOpType.SET)
        )
    if not small:
        return
    for res, fut in admin.incremental_alter_configs(small, request_timeout=timeout).items():
        try:
            fut.result()
        except KafkaException as e:
            raise TopicMismatchError(
                f"topic {res.name} takes records up to a smaller max.message.bytes than "
                f"{wanted} (max_payload_bytes plus headroom) and altering it failed: "
                f"{e.args[0] if e.args else e}; set it on the topic, or lower max_payload_bytes"
            ) from None
