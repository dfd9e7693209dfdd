"""rt's identifiers and routing: the one module both the SDK and the runtime use for them.

NEVER CHANGE these formats. Invocation ids (``inv_...``), awakeable ids (``prom_...``),
the deterministic ids of workflows, idempotent requests, calls, subscription records and
cron ticks, and the routing hash are stored in Kafka records and Redis keys and handed to
users; a change would orphan every invocation already accepted. ``tests/unit/test_ids.py``
pins them with fixed vectors.

An invocation id embeds the 31-bit routing hash of its target, so any component can find
the owning partition of ``rt.log`` from the id alone:

- keyed targets (virtual objects, workflows): ``routing_hash(keyed_routing_key(service, key))``;
- plain services: the hash of the id's own 16 random bytes (the routing key of such an
  invocation is the id itself).

This module imports nothing of the SDK's engine or of the runtime (ADR 0016): the runtime's
bottom layer (``runtime/log``) routes records with it.

Example:
    >>> from sdk.ids import parse_invocation_id, partition_for_hash, workflow_invocation_id
    >>> inv = workflow_invocation_id("Signup", "alice")
    >>> rhash, _ = parse_invocation_id(inv)
    >>> 0 <= partition_for_hash(rhash, 8) < 8
    True
"""

from sdk._ids import (
    AWAKEABLE_PREFIX,
    INVOCATION_PREFIX,
    InvalidIdError,
    awakeable_id,
    child_invocation_id,
    cron_invocation_id,
    idempotent_invocation_id,
    invocation_id_for,
    keyed_routing_key,
    make_invocation_id,
    murmur2,
    parse_awakeable_id,
    parse_invocation_id,
    partition_for_hash,
    routing_hash,
    subscription_invocation_id,
    workflow_invocation_id,
)

__all__ = [
    "AWAKEABLE_PREFIX",
    "INVOCATION_PREFIX",
    "InvalidIdError",
    "awakeable_id",
    "child_invocation_id",
    "cron_invocation_id",
    "idempotent_invocation_id",
    "invocation_id_for",
    "keyed_routing_key",
    "make_invocation_id",
    "murmur2",
    "parse_awakeable_id",
    "parse_invocation_id",
    "partition_for_hash",
    "routing_hash",
    "subscription_invocation_id",
    "workflow_invocation_id",
]
