"""Where a target's records go: its routing key (shared by ingress and processors).

The log layer is the bottom of the runtime: this module knows records, not
services. A target's kind is decided by the service model
(``ServiceInfo.target_kind``) and arrives here as a value.
"""

from __future__ import annotations

from runtime.log import records
from sdk.ids import keyed_routing_key


def routing_key_of(target: records.Target, invocation_id: str) -> bytes:
    """The Kafka key of a target's records: ``service/key`` for keyed targets, else the id."""
    if target.key is None:
        return invocation_id.encode()
    return keyed_routing_key(target.service, target.key)


def job_routing_key(job_id: str) -> bytes:
    """Kafka key (and partition choice) of a cron job's records. NEVER CHANGE."""
    return f"rt-cron/{job_id}".encode()
