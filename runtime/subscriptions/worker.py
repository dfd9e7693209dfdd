"""One subscription's intake in its own process, supervised by the node.

Why: in the node's process the intake shares the GIL with the partition
processors, the invoker and the handlers its own Invokes flood, which held it
to a fraction of what the same code does alone (ADR 0004, addendum). The child
runs the unchanged :class:`IntakeRunner`, so the exactly-once protocol (ids,
transactional ids, offsets in the transaction, fencing) is the same.

Lifecycle:

- :class:`IntakeProcess` (in the node) spawns ``python -m runtime.subscriptions.worker``
  as a :class:`runtime.childproc.SupervisedChild` (spec on stdin,
  ``PR_SET_PDEATHSIG``): a node that dies (even by kill -9) takes its intake with
  it; the next owner's ``init_transactions`` aborts whatever the child left open.
- A child that exits unexpectedly is restarted after a pause (same transactional
  ids, so it fences its own predecessor).
- ``stop`` sends SIGTERM: the child finishes the round in flight (its offsets
  commit), leaves the group and exits; ``stop`` returns once it has.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from dataclasses import asdict
from typing import Any

from runtime.childproc import SupervisedChild, die_with_parent
from runtime.log.records import TargetKind
from runtime.log.topics import TopicNames
from runtime.logs import configure as configure_logging
from runtime.subscriptions.mapping import SinkTarget
from runtime.subscriptions.model import Subscription

log = logging.getLogger("rt.subscriptions")

ROUND_ENV = "RT_INTAKE_ROUND_RECORDS"
"""Records per intake transaction at most (default ``intake.MAX_ROUND``); smaller rounds
commit more often (tests use it to land a kill between commits)."""


class IntakeProcess(SupervisedChild):
    """The node-side handle of one subscription's intake child (same API as IntakeRunner)."""

    def __init__(
        self,
        sub: Subscription,
        sink: SinkTarget,
        kafka_config: dict[str, Any],
        topics: TopicNames,
        partitions: int,
        node_id: str,
    ) -> None:
        self.sub = sub
        spec = {  # JSON on stdin, so no secret shows in ``ps``
            "subscription": sub.to_json(),
            "sink": asdict(sink),
            "kafka_config": kafka_config,
            "prefix": topics.prefix,
            "partitions": partitions,
            "node_id": node_id,
        }
        super().__init__(
            f"intake of subscription {sub.id}", "runtime.subscriptions.worker", json.dumps(spec)
        )


def run_child(raw: str) -> int:
    """The child's main: run the subscription's IntakeRunner until SIGTERM."""
    from connectors.serde import decoder_for
    from runtime.subscriptions.intake import MAX_ROUND, IntakeRunner

    d = json.loads(raw)
    sub = Subscription(**d["subscription"])
    decoder = decoder_for(
        sub.format,
        avro_schema=sub.options.get("avro.schema"),
        avro_schema_file=sub.options.get("avro.schema.file"),
        schema_registry_url=sub.options.get("schema.registry.url"),
    )
    runner = IntakeRunner(
        sub,
        SinkTarget(**{**d["sink"], "kind": TargetKind(d["sink"]["kind"])}),
        decoder,
        d["kafka_config"],
        TopicNames(d["prefix"]),
        int(d["partitions"]),
        d["node_id"],
        max_round=int(os.environ.get(ROUND_ENV) or MAX_ROUND),
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    parent = os.getppid()
    log.info("subscription %s: intake process %d started", sub.id, os.getpid())
    runner.start()
    while not stop.wait(1.0):
        if os.getppid() != parent:  # belt and braces next to PDEATHSIG
            return 1
    runner.stop()
    return 0


def main() -> None:
    die_with_parent()
    configure_logging("intake")
    sys.exit(run_child(sys.stdin.read()))


if __name__ == "__main__":
    main()
