"""The egress outbox's format and mirror, as the egress sender sees them.

They belong to the partition, whose apply writes the outbox
(``runtime.partition.egress_outbox``); this module names them for the egress package.
"""

from runtime.partition.egress_outbox import (
    EgressItem,
    EgressOutbox,
    decode_item,
    encode_item,
    position_field,
)

__all__ = ["EgressItem", "EgressOutbox", "decode_item", "encode_item", "position_field"]
