"""Redis store of the partitions' materialized state: key layout, Lua apply script, fencing.

``runtime.state.keys`` fixes the key layout (NEVER CHANGE); ``runtime.state.store``
applies a partition processor's batches atomically, fenced by epoch and idempotent
by log offset. See ``docs/decisions/0002-log-records-and-processor.md``.
"""
