"""The shared apply connection against the real Redis: replies in order, failures surfaced."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis
import redis.asyncio as aioredis
import uvloop
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from runtime.state import pipelined
from runtime.state.pipelined import PipelinedConnection
from tests.conftest import Infra


@pytest.fixture
async def client(infra: Infra, prefix: str) -> AsyncIterator[aioredis.Redis]:
    c = aioredis.Redis.from_url(infra.redis_url, client_name=f"rt-pipe-{prefix}")
    try:
        yield c
    finally:
        await c.aclose()


async def test_concurrent_callers_share_one_write_and_get_their_own_replies(
    client: aioredis.Redis, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes: list[int] = []
    send = pipelined._ReplyProtocol.send

    def spy(
        self: pipelined._ReplyProtocol, data: bytes, futs: list[asyncio.Future[object]]
    ) -> None:
        writes.append(len(futs))
        send(self, data, futs)

    monkeypatch.setattr(pipelined._ReplyProtocol, "send", spy)
    pipe = PipelinedConnection(client)
    try:
        replies = await asyncio.gather(
            *(pipe.execute("INCRBY", f"{prefix}:n{i % 7}", i) for i in range(200))
        )
        assert writes == [200]
        expected: dict[int, int] = {}
        for i, reply in enumerate(replies):
            expected[i % 7] = expected.get(i % 7, 0) + i
            assert reply == expected[i % 7]
        # An error reply fails its own caller only; a script Redis lacks is NoScriptError.
        await client.rpush(f"{prefix}:list", b"x")
        ok, bad, missing, after = await asyncio.gather(
            pipe.execute("SET", f"{prefix}:s", b"v"),
            pipe.execute("INCR", f"{prefix}:list"),
            pipe.execute("EVALSHA", "0" * 40, 0),
            pipe.execute("GET", f"{prefix}:s"),
            return_exceptions=True,
        )
        assert ok == b"OK" and after == b"v"
        assert isinstance(bad, ResponseError) and "WRONGTYPE" in str(bad)
        assert isinstance(missing, NoScriptError)
        assert len(writes) == 2
    finally:
        await pipe.aclose()


async def test_a_cancelled_caller_does_not_shift_the_replies_of_others(
    client: aioredis.Redis, prefix: str
) -> None:
    pipe = PipelinedConnection(client)
    try:
        await pipe.execute("PING")
        slow = asyncio.ensure_future(pipe.execute("GET", f"{prefix}:a"))
        follow = asyncio.ensure_future(pipe.execute("SET", f"{prefix}:b", b"1"))
        await asyncio.sleep(0)  # both are sent
        slow.cancel()
        assert await follow == b"OK"
        assert await pipe.execute("GET", f"{prefix}:b") == b"1"
    finally:
        await pipe.aclose()


async def test_a_killed_connection_fails_in_flight_calls_and_the_next_call_reconnects(
    client: aioredis.Redis, infra: Infra, prefix: str
) -> None:
    pipe = PipelinedConnection(client)
    admin = redis.Redis.from_url(infra.redis_url)
    try:
        await pipe.execute("PING")
        # BLPOP keeps the command in flight while the server closes the connection.
        blocked = asyncio.ensure_future(pipe.execute("BLPOP", f"{prefix}:never", 5))
        await asyncio.sleep(0.2)
        ours = [c for c in admin.client_list() if c["name"] == f"rt-pipe-{prefix}"]
        assert len(ours) == 1, ours
        admin.client_kill_filter(_id=ours[0]["id"])
        with pytest.raises(RedisConnectionError):
            await asyncio.wait_for(blocked, 5)
        assert await pipe.execute("SET", f"{prefix}:k", b"after") == b"OK"
        assert admin.get(f"{prefix}:k") == b"after"
    finally:
        admin.close()
        await pipe.aclose()


async def test_an_unanswered_call_times_out_and_the_connection_is_dropped() -> None:
    """A server that accepts and never answers: TimeoutError after timeout_s, not a hang."""
    accepted: list[asyncio.StreamWriter] = []

    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Answers redis-py's connection handshake, then nothing."""
        accepted.append(writer)
        while data := await reader.read(65536):
            if b"PING" in data:
                continue
            writer.write(b"+OK\r\n" * sum(line.startswith(b"*") for line in data.split(b"\r\n")))

    server = await asyncio.start_server(mute, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    c = aioredis.Redis(host="127.0.0.1", port=port, client_name="mute-test")
    pipe = PipelinedConnection(c, timeout_s=0.3)
    try:
        with pytest.raises(RedisTimeoutError):
            await asyncio.wait_for(pipe.execute("PING"), 5)
        assert accepted, "the connection was made"
    finally:
        await _close(pipe, c, accepted, server)


async def test_an_unreachable_server_fails_the_queued_calls_with_connection_error() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    c = aioredis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1)
    pipe = PipelinedConnection(c)
    try:
        results = await asyncio.gather(
            pipe.execute("PING"), pipe.execute("PING"), return_exceptions=True
        )
        assert all(isinstance(r, RedisConnectionError) for r in results), results
    finally:
        await pipe.aclose()
        await c.aclose()
    with pytest.raises(RedisConnectionError, match="closed"):
        await pipe.execute("PING")


def test_on_uvloop_replies_errors_and_reconnects(infra: Infra, prefix: str) -> None:
    """rt runs on uvloop, whose transports are not asyncio's classes: same behaviour there."""

    async def scenario() -> None:
        c = aioredis.Redis.from_url(infra.redis_url, client_name=f"rt-pipe-uv-{prefix}")
        pipe = PipelinedConnection(c)
        admin = redis.Redis.from_url(infra.redis_url)
        try:
            replies = await asyncio.gather(
                *(pipe.execute("INCRBY", f"{prefix}:uv", 1) for _ in range(50))
            )
            assert replies == list(range(1, 51))
            with pytest.raises(ResponseError):
                await pipe.execute("INCR", f"{prefix}:uv", "extra-arg")
            ours = [x for x in admin.client_list() if x["name"] == f"rt-pipe-uv-{prefix}"]
            assert len(ours) == 1, ours
            blocked = asyncio.ensure_future(pipe.execute("BLPOP", f"{prefix}:never", 5))
            await asyncio.sleep(0.2)
            admin.client_kill_filter(_id=ours[0]["id"])
            with pytest.raises(RedisConnectionError):
                await asyncio.wait_for(blocked, 5)
            assert await pipe.execute("GET", f"{prefix}:uv") == b"50"
        finally:
            admin.close()
            await pipe.aclose()
            await c.aclose()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(scenario())


async def test_closing_during_a_connect_fails_the_queued_calls() -> None:
    """A connect that hangs (the server never answers the handshake) must not leave the
    callers waiting forever once the connection is closed."""
    accepted: list[asyncio.StreamWriter] = []

    async def silent(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    c = aioredis.Redis(host="127.0.0.1", port=port, client_name="handshake-never-answered")
    pipe = PipelinedConnection(c)
    try:
        call = asyncio.ensure_future(pipe.execute("PING"))
        for _ in range(100):
            if accepted:
                break
            await asyncio.sleep(0.02)
        assert accepted and not call.done()
        await pipe.aclose()
        with pytest.raises(RedisConnectionError, match="closed"):
            await asyncio.wait_for(call, 5)
    finally:
        await _close(pipe, c, accepted, server)


async def _close(
    pipe: PipelinedConnection,
    client: aioredis.Redis,
    accepted: list[asyncio.StreamWriter],
    server: asyncio.Server,
) -> None:
    await pipe.aclose()
    await client.aclose()
    for w in accepted:
        w.close()
    server.close()
    await server.wait_closed()
