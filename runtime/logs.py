"""Logging set-up shared by every rt process (node, ingress processes, intake processes).

Without it the node's own records below WARNING were dropped and warnings came out without
time or logger, so a stuck partition or a rebalance left no trace. ``RT_LOG_LEVEL`` (default
INFO) and ``RT_LOG_JSON`` (one JSON object per line, for log shippers) reach child processes
through the environment.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class JsonLines(logging.Formatter):
    """One JSON object per record: ts (UTC), level, logger, pid, message (+ exc)."""

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
    if json_lines:
        handler.setFormatter(JsonLines())
    else:
        tag = f" [{role} %(process)d]" if role else ""
        handler.setFormatter(
            logging.Formatter(f"%(asctime)s %(levelname)s %(name)s{tag} %(message)s")
        )
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(name)
    # HTTP client and asyncio debug chatter stays at WARNING even when rt logs at DEBUG.
    for noisy in ("httpx", "httpcore", "asyncio"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
