"""Starting a transactional producer without librdkafka's 500 ms stall.

``init_transactions`` on a fresh producer sometimes misses the moment its
transaction-coordinator connection comes up and then waits for the PID state
machine's fixed 500 ms retry timer (seen on about half of 8 producers started
together). A short timeout plus a retry resumes the same initialisation (the
call is documented as retriable after a timeout) and kicks it at once, so
starting an intake's producers takes about 0.1 s instead of 0.5 s.
"""

from __future__ import annotations

import time

from confluent_kafka import KafkaError, KafkaException, Producer

STEP_S = 0.1


def init_transactions(producer: Producer, timeout_s: float) -> None:
    """``producer.init_transactions``, retried in short steps until ``timeout_s``.

    Raises:
        KafkaException: A non-retriable error (fenced, misconfigured), or still
            not initialised after ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        left = deadline - time.monotonic()
        try:
            producer.init_transactions(max(min(STEP_S, left), 0.001))
            return
        except KafkaException as e:
            err = e.args[0] if e.args else None
            if not (isinstance(err, KafkaError) and err.retriable()) or left <= STEP_S:
                raise
