"""Replay-aware logging (private; ``getLogger`` is re-exported by ``sdk``)."""

from __future__ import annotations

import logging

from sdk._engine import current_driver


class RestateLoggingFilter(logging.Filter):
    """Drops records emitted by handler code while it replays journaled commands.

    A replayed handler re-executes the code between its journaled commands;
    without this filter every log line would appear again on each replay.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Return False (drop) while the current handler is replaying."""
        if not super().filter(record):
            return False
        driver = current_driver()
        return driver is None or not driver.is_replaying


_FILTER = RestateLoggingFilter()


def getLogger(name: str | None = None) -> logging.Logger:  # noqa: N802 - mirrors logging/restate-sdk
    """``logging.getLogger`` with a filter that suppresses records during replay.

    Args:
        name: The logger name (None for the root logger).

    Returns:
        The logger, with :class:`RestateLoggingFilter` attached once.

    Example:
        >>> log = getLogger(__name__)
        >>> log.info("charged card")  # doctest: +SKIP
    """
    logger = logging.getLogger(name)
    if not any(isinstance(f, RestateLoggingFilter) for f in logger.filters):
        logger.addFilter(_FILTER)
    return logger
