"""Exactly-once Kafka egress: the per-partition outbox and its transactional sender."""
