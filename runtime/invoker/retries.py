"""The record that ends a failed attempt: when to retry it, per the service's retry policy.

Owns turning an attempt's failure into ``records.AttemptFailed``: the next retry time
from the handler's retry policy (exponential backoff, or the endpoint's own delay),
none when the attempts are exhausted (then the invocation is killed with the failure,
or paused with ``on_max_attempts=pause``). Pure apart from reading the clock.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from runtime.log import records
from runtime.partition.contract import Attempt
from runtime.registry import OnMaxAttempts, Registry

log = logging.getLogger("rt.invoker")


def failure_record(
    registry: Registry,
    attempt: Attempt,
    epoch: int,
    code: int,
    message: str,
    retry_after: timedelta | None,
    detail: records.FailureDetail | None = None,
) -> records.AttemptFailed:
    """The ``AttemptFailed`` to append for ``attempt`` (and a log line saying what happens).

    Args:
        registry: Where the handler's retry policy is resolved.
        attempt: The failed attempt (its ``retry_count`` counts earlier failures).
        epoch: The partition owner's epoch.
        code: The failure's code.
        message: What went wrong.
        retry_after: A delay that overrides the policy's backoff once.
        detail: Stack trace and related command, when known.
    """
    target = attempt.target
    policy = registry.retry_policy(target.service, target.handler)
    failed_attempts = attempt.retry_count + 1
    exhausted = policy.max_attempts is not None and failed_attempts >= policy.max_attempts
    retry_at: int | None = None
    pause = False
    if exhausted:
        pause = policy.on_max_attempts is OnMaxAttempts.PAUSE
    else:
        delay = (
            retry_after.total_seconds()
            if retry_after is not None
            else policy.delay_s(failed_attempts)
        )
        retry_at = int((time.time() + delay) * 1000)
    log.warning(
        "invocation %s attempt %d failed (%d): %s%s",
        attempt.invocation_id,
        attempt.number,
        code,
        message,
        "" if retry_at is None else f"; retrying in {(retry_at / 1000 - time.time()):.2f}s",
    )
    return records.AttemptFailed(
        attempt.invocation_id, epoch, attempt.number, code, message, retry_at, pause, detail
    )
