"""One Redis connection shared by concurrent callers, with many commands in flight.

Why: the partition processors' applies are the hot path's Redis round trips. Through
redis-py's asyncio client each call checks a connection out of the pool, arms a
timeout context, awaits a drain and runs the reply through the parser's coroutine:
on the 2-core dev VM that is ~160 µs of CPU per EVALSHA (and the store's batching
added a task and a shield on top: ~250 µs per apply), against ~65 µs Redis spends
running the script. Here a caller queues its packed command and awaits a future; the
commands of one loop turn go out in one ``write``, and replies - which Redis sends in
command order on a connection - are matched to the futures in order by a plain
protocol callback feeding hiredis' reader. No task, no pool, no timeout context per
call.

redis-py still makes the connection (host/port or unix socket, TLS, AUTH, SELECT,
CLIENT SETNAME, exactly as the rest of rt's clients, but always RESP2), then this
module takes over its transport. A connection failure fails every command in flight with redis-py's
``ConnectionError`` (a hung server: ``TimeoutError`` after ``timeout_s``), so callers'
retry policies apply unchanged; the next command reconnects. A caller cancelled while
waiting does not desynchronise anything: its reply is read and dropped.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any

import hiredis
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

__all__ = ["PipelinedConnection"]

_Waiting = tuple[asyncio.Future[Any], float]


class PipelinedConnection:
    """Sends the commands of each loop turn together on one connection; replies in order.

    Args:
        client: The ``redis.asyncio.Redis`` whose connection settings to use.
        timeout_s: A command unanswered this long closes the connection (every
            command in flight then fails with ``TimeoutError``); None waits forever.
    """

    def __init__(self, client: aioredis.Redis, *, timeout_s: float | None = 10.0) -> None:
        self._client = client
        self._timeout_s = timeout_s
        self._queued: list[bytes] = []
        self._queued_futs: list[asyncio.Future[Any]] = []
        self._scheduled = False
        self._proto: _ReplyProtocol | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._closed = False

    async def execute(self, *args: Any) -> Any:
        """Send one command; its reply, with an error reply raised as redis-py raises it."""
        if self._closed:
            raise RedisConnectionError("pipelined connection is closed")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        self._queued.append(hiredis.pack_command(args))
        self._queued_futs.append(fut)
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        reply = await fut
        if isinstance(reply, hiredis.ReplyError):
            message = str(reply)
            if message.startswith("NOSCRIPT"):
                raise NoScriptError(message)
            raise ResponseError(message)
        return reply

    def _flush(self) -> None:
        self._scheduled = False
        if not self._queued:  # the connect task already sent what this turn queued
            return
        proto = self._proto
        if proto is None or proto.lost:
            if self._connecting is None:
                self._connecting = asyncio.get_running_loop().create_task(self._connect())
            return  # the connect task flushes what is queued by then
        data, futs = self._queued, self._queued_futs
        self._queued, self._queued_futs = [], []
        proto.send(b"".join(data), futs)

    async def _connect(self) -> None:
        try:
            pool = self._client.connection_pool
            # RESP2 whatever the client's default (redis-py 8 speaks RESP3): the replies
            # are parsed here, as RESP2, by the hiredis reader below.
            conn = pool.connection_class(**{**pool.connection_kwargs, "protocol": 2})
            await conn.connect()  # type: ignore[no-untyped-call]
            writer = getattr(conn, "_writer", None)
            if writer is None:  # pragma: no cover - guards a redis-py internals change
                raise RedisConnectionError("redis-py connection exposes no stream writer")
            proto = _ReplyProtocol(self._timeout_s)
            writer.transport.set_protocol(proto)
            proto.transport = writer.transport
            # The transport is ours now: the Connection must neither use nor close it, and
            # the StreamWriter lives as long as it (when collected it closes an open one).
            proto.writer = writer
            conn._writer = conn._reader = None
        except BaseException as e:
            err = e if isinstance(e, RedisConnectionError | RedisTimeoutError) else None
            self._fail_queued(err or RedisConnectionError(f"connect failed: {e!r}"))
            if not isinstance(e, Exception):
                raise
            return
        finally:
            self._connecting = None
        if self._closed:
            proto.close()
            return
        self._proto = proto
        self._flush()

    def _fail_queued(self, exc: BaseException) -> None:
        futs, self._queued, self._queued_futs = self._queued_futs, [], []
        for fut in futs:
            if not fut.done():
                fut.set_exception(exc)

    async def aclose(self) -> None:
        self._closed = True
        # Commands not sent yet (a connect in progress) fail now instead of waiting forever.
        self._fail_queued(RedisConnectionError("pipelined connection is closed"))
        if self._connecting is not None:
            self._connecting.cancel()
        if self._proto is not None:
            self._proto.close()
            self._proto = None


class _ReplyProtocol(asyncio.Protocol):
    def __init__(self, timeout_s: float | None) -> None:
        # An asyncio or uvloop transport (uvloop's classes do not derive from asyncio's).
        self.transport: Any = None
        self.writer: asyncio.StreamWriter | None = None
        self.reader = hiredis.Reader()
        self.waiting: deque[_Waiting] = deque()
        self.lost = False
        self._timeout_s = timeout_s
        self._timer: asyncio.TimerHandle | None = None

    def send(self, data: bytes, futs: list[asyncio.Future[Any]]) -> None:
        now = time.monotonic()
        self.waiting.extend((fut, now) for fut in futs)
        try:
            self.transport.write(data)
        except Exception as e:  # noqa: BLE001 - e.g. the transport closed under us
            self._abort(RedisConnectionError(f"write to Redis failed: {e!r}"))
            return
        if self._timeout_s is not None and self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._timeout_s, self._check)

    def data_received(self, data: bytes) -> None:
        reader, waiting = self.reader, self.waiting
        reader.feed(data)
        while (reply := reader.gets()) is not False:
            if not waiting:  # a reply nobody asked for: the stream is out of step
                self._abort(RedisConnectionError("unexpected reply from Redis"))
                return
            fut, _ = waiting.popleft()
            if not fut.done():
                fut.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(RedisConnectionError(f"connection to Redis lost: {exc or 'closed'}"))

    def _check(self) -> None:
        self._timer = None
        if not self.waiting or self.lost:
            return
        age = time.monotonic() - self.waiting[0][1]
        assert self._timeout_s is not None
        if age >= self._timeout_s:
            self._abort(RedisTimeoutError(f"no reply from Redis in {self._timeout_s:.1f}s"))
            return
        delay = self._timeout_s - age
        self._timer = asyncio.get_running_loop().call_later(delay, self._check)

    def _abort(self, exc: Exception) -> None:
        self._fail(exc)
        if self.transport is not None:
            self.transport.abort()

    def _fail(self, exc: Exception) -> None:
        self.lost = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        waiting, self.waiting = self.waiting, deque()
        for fut, _ in waiting:
            if not fut.done():
                fut.set_exception(exc)

    def close(self) -> None:
        self.lost = True
        if self.transport is not None:
            self.transport.close()
