"""Logging set-up shared by every rt process (node, ingress processes, intake processes).

Without it the node's own records below WARNING were dropped and warnings came out without
time or logger, so a stuck partition or a rebalance left no trace. ``RT_LOG_LEVEL`` (default
INFO) and ``RT_LOG_JSON`` (one JSON object per line, for log shippers) reach child processes
through the environment.

Lines logged while an attempt runs — by rt or by the handler's own ``logging`` calls —
carry the invocation's id and target (:func:`invocation`): JSON lines as the fields
``invocation_id`` and ``target``, plain lines as ``[inv_... Service/handler]`` after the
logger name. A record can also name them itself with ``extra={"invocation_id": ...,
"target": ...}``.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
import sys
import time
from collections.abc import Iterator

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

_invocation: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar(
    "rt_log_invocation", default=None
)


@contextlib.contextmanager
def invocation(invocation_id: str, target: str) -> Iterator[None]:
    """Lines logged in this block (and in tasks it starts) name the invocation."""
    token = _invocation.set((invocation_id, target))
    try:
        yield
    finally:
        _invocation.reset(token)


class InvocationFields(logging.Filter):
    """Sets ``invocation_id`` and ``target`` on every record (None outside an attempt),
    unless the record names them itself (``extra=``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        current = _invocation.get()
        if not hasattr(record, "invocation_id"):
            record.invocation_id = current[0] if current is not None else None
        if not hasattr(record, "target"):
            record.target = current[1] if current is not None else None
        inv_id = getattr(record, "invocation_id", None)
        record.invocation_tag = f" [{inv_id} {getattr(record, 'target', None)}]" if inv_id else ""
        return True


class JsonLines(logging.Formatter):
    """One JSON object per record: ts (UTC), level, logger, pid, message (+ invocation_id
    and target within an attempt, + exc)."""

    @staticmethod
    def converter(secs: float | None = None) -> time.struct_time:
        return time.gmtime(secs)

    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        invocation_id = getattr(record, "invocation_id", None)
        if invocation_id:
            doc["invocation_id"] = invocation_id
            doc["target"] = getattr(record, "target", None)
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc)


def configure(role: str = "", level: str | None = None, json_lines: bool | None = None) -> None:
    """Configure the root logger once per process: stderr, the level and format asked for.

    Args:
        role: Tag of child processes in plain lines (``intake``, ``ingress``).
        level: Overrides ``RT_LOG_LEVEL``.
        json_lines: Overrides ``RT_LOG_JSON``.
    """
    name = (level or os.environ.get("RT_LOG_LEVEL") or "INFO").upper()
    if name not in LEVELS:
        name = "INFO"
    if json_lines is None:
        json_lines = os.environ.get("RT_LOG_JSON", "").lower() in ("1", "true", "yes")
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(InvocationFields())
    if json_lines:
        handler.setFormatter(JsonLines())
    else:
        tag = f" [{role} %(process)d]" if role else ""
        handler.setFormatter(
            logging.Formatter(
                f"%(asctime)s %(levelname)s %(name)s{tag}%(invocation_tag)s %(message)s"
            )
        )
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(name)
    # HTTP client and asyncio debug chatter stays at WARNING even when rt logs at DEBUG.
    for noisy in ("httpx", "httpcore", "asyncio"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
