"""Measure the transports for docs/decisions/0018-service-protocol.md (not a test).

    .venv/bin/python -m tests.integration.protocol.measure_transport [attempts]

Starts restate-sdk 1.2.0 under hypercorn (h2c + HTTP/1.1 on one port) and compares,
for Greeter.greet attempts run to their end:

- rt's h2 client (runtime.protocol, bidirectional stream, one connection);
- httpx with HTTP/2 prior knowledge, request/response (whole body, then response);
- httpx over HTTP/1.1 (keep-alive), request/response;

sequentially and with 32 concurrent attempts. Then shows why httpx cannot carry a
bidirectional attempt: its request body must end before the response can be read,
so a ctx.run proposal can never be acknowledged in the same attempt.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx

from runtime.protocol import ProtocolMode, RemoteEndpoint
from runtime.protocol.framing import FrameDecoder, encode_message
from runtime.protocol.generated import service_protocol_pb2 as pb
from runtime.protocol.messages import MessageType
from tests.integration.protocol.conftest import run_attempt, start_of
from tests.integration.protocol.endpoints import start_hypercorn

CT = "application/vnd.restate.invocation.v7"


def _request_body(invocation_id: str, body: bytes) -> bytes:
    start = pb.StartMessage(
        id=invocation_id.encode(), debug_id=invocation_id, known_entries=1, partial_state=True
    )
    return encode_message(start) + encode_message(
        pb.InputCommandMessage(value=pb.Value(content=body))
    )


async def _httpx_attempt(client: httpx.AsyncClient, uri: str, n: int) -> None:
    response = await client.post(
        f"{uri}/invoke/Greeter/greet",
        content=_request_body(f"inv_bench{n}", b'"x"'),
        headers={"content-type": CT, "accept": CT},
    )
    frames = FrameDecoder().feed(response.content)
    assert frames[-1].type is MessageType.END, frames


async def _timed(
    label: str, attempts: int, concurrency: int, one: Callable[[int], Awaitable[None]]
) -> float:
    sem = asyncio.Semaphore(concurrency)

    async def guarded(i: int) -> None:
        async with sem:
            await one(i)

    for i in range(20):  # warm-up: connections, imports, JIT-less caches
        await one(-i - 1)
    began = time.perf_counter()
    await asyncio.gather(*(guarded(i) for i in range(attempts)))
    rate = attempts / (time.perf_counter() - began)
    print(f"  {label:<44} c={concurrency:<3} {rate:8.0f} attempts/s")
    return rate


async def _bidi_with_httpx(uri: str) -> str:
    """A ctx.run in one httpx attempt: the ack can only be sent after the body ended."""
    proposal_seen = asyncio.Event()

    async def body() -> AsyncIterator[bytes]:
        yield _request_body("inv_bidi", b"5")
        await proposal_seen.wait()  # we would send the ack here; it never gets this far

    async with httpx.AsyncClient(http1=False, http2=True) as client:
        try:
            await asyncio.wait_for(
                client.post(
                    f"{uri}/invoke/Runner/double_twice",
                    content=body(),
                    headers={"content-type": CT, "accept": CT},
                ),
                3,
            )
        except TimeoutError:
            return "httpx: no response head after 3 s (request body still open) -> deadlock"
    return "httpx: got a response (unexpected)"


async def main(attempts: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = start_hypercorn(Path(tmp))
        try:
            uri = server.uri
            results: dict[str, list[float]] = {}
            for round_ in range(3):
                print(f"round {round_ + 1}")
                for concurrency in (1, 32):
                    async with RemoteEndpoint(uri, protocol_version=7) as ep:
                        rate = await _timed(
                            "rt h2 client (bidi stream)",
                            attempts,
                            concurrency,
                            lambda i, ep=ep: run_attempt(
                                ep, start_of("Greeter", "greet", input=b'"x"')
                            ),
                        )
                        results.setdefault(f"rt-h2 c={concurrency}", []).append(rate)
                    async with RemoteEndpoint(
                        uri,
                        protocol_version=7,
                        mode=ProtocolMode.REQUEST_RESPONSE,
                        use_http_11=True,
                    ) as ep:
                        rate = await _timed(
                            "rt HTTP/1.1 (httpx, request/response)",
                            attempts,
                            concurrency,
                            lambda i, ep=ep: run_attempt(
                                ep, start_of("Greeter", "greet", input=b'"x"')
                            ),
                        )
                        results.setdefault(f"rt-h1 c={concurrency}", []).append(rate)
                    async with httpx.AsyncClient(http1=False, http2=True) as client:
                        rate = await _timed(
                            "httpx h2c prior knowledge (request/response)",
                            attempts,
                            concurrency,
                            lambda i, c=client: _httpx_attempt(c, uri, i),
                        )
                        results.setdefault(f"httpx-h2 c={concurrency}", []).append(rate)
            print("medians:")
            for key, rates in results.items():
                print(f"  {key:<16} {statistics.median(rates):8.0f} attempts/s")
            print(await _bidi_with_httpx(uri))
        finally:
            server.stop()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 300))
