"""HTTP transports to an SDK endpoint: HTTP/2 cleartext (full duplex) and HTTP/1.1.

Owns connections and HTTP streams, nothing of the service protocol's messages.

- :class:`H2cConnection`: one TCP connection speaking HTTP/2 with prior knowledge
  (``h2`` driven on asyncio), multiplexing many invocation streams. Both directions
  of a stream are open at once, which bidirectional invocations need. httpx cannot do
  this: it sends the whole request body before it reads the response (see
  ``docs/decisions/0018-service-protocol.md``).
- :class:`Http1Exchange`: one HTTP/1.1 request (httpx), for request/response mode:
  the request body is complete before the endpoint answers.

Both give an :class:`HttpStream`: ``send``/``end_request`` for the request body,
``response_head``/``receive`` for the response, ``abort`` to drop it. Every failure is
a :class:`~runtime.protocol.errors.TransportError` naming the endpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Protocol
from urllib.parse import urlsplit

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import httpx
from h2.errors import ErrorCodes

from sdk.protocol import ConnectTimeoutError, TransportError

_READ_CHUNK = 256 * 1024
_WINDOW = 16 * 1024 * 1024
"""Receive window per stream and per connection: acked as soon as read, so large is cheap."""


class HttpStream(Protocol):
    """One HTTP request/response exchange with an endpoint."""

    @property
    def request_open(self) -> bool:
        """True while more request body may be sent."""
        ...

    async def send(self, data: bytes) -> None:
        """Send request body bytes; raises TransportError when the stream is gone."""
        ...

    async def end_request(self) -> None:
        """Close the request body (idempotent)."""
        ...

    async def response_head(self) -> tuple[int, dict[str, str]]:
        """Status and headers (lower-case names) of the response."""
        ...

    async def receive(self) -> bytes:
        """The next chunk of response body; ``b""`` once the response is complete.

        Cancellation-safe: a cancelled call loses no data.
        """
        ...

    async def abort(self) -> None:
        """Drop the exchange (HTTP/2: reset the stream; HTTP/1.1: close the connection)."""
        ...


def split_uri(uri: str) -> tuple[str, int, str]:
    """``(host, port, path prefix without trailing slash)`` of an ``http://`` URI."""
    parts = urlsplit(uri)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"not an http:// URI: {uri!r}")
    return parts.hostname, parts.port or 80, parts.path.rstrip("/")


class _Response:
    """The response side of an exchange: its head, then body chunks, or an error.

    Fed by the transport, read by :class:`HttpStream` users; reads are
    cancellation-safe and, once the body ended or failed, every later read returns
    the same end or error.
    """

    def __init__(self) -> None:
        self._head: asyncio.Future[tuple[int, dict[str, str]]] = (
            asyncio.get_running_loop().create_future()
        )
        self._chunks: asyncio.Queue[bytes | TransportError] = asyncio.Queue()

    def head(self, status: int, headers: dict[str, str]) -> None:
        if not self._head.done():
            self._head.set_result((status, headers))

    def data(self, chunk: bytes) -> None:
        self._chunks.put_nowait(chunk)

    def end(self) -> None:
        self._chunks.put_nowait(b"")

    def fail(self, error: TransportError) -> None:
        if not self._head.done():
            self._head.set_exception(error)
            self._head.exception()  # retrieved here: nobody may await the head
        self._chunks.put_nowait(error)

    async def read_head(self) -> tuple[int, dict[str, str]]:
        return await asyncio.shield(self._head)

    async def read(self) -> bytes:
        item = await self._chunks.get()
        if isinstance(item, TransportError) or item == b"":
            self._chunks.put_nowait(item)
        if isinstance(item, TransportError):
            raise item
        return item


# ---------------------------------------------------------------------------
# HTTP/2 cleartext.


class _H2Stream:
    """Client side of one HTTP/2 stream; the connection's reader feeds it."""

    def __init__(self, conn: H2cConnection, stream_id: int) -> None:
        self._conn = conn
        self.stream_id = stream_id
        self._response = _Response()
        self._request_open = True
        self._response_done = False
        self._error: TransportError | None = None

    # -- fed by the connection -------------------------------------------------

    def on_head(self, status: int, headers: dict[str, str]) -> None:
        self._response.head(status, headers)

    def on_data(self, data: bytes) -> None:
        self._response.data(data)

    def on_end(self) -> None:
        self._response_done = True
        self._response.end()

    def on_error(self, error: TransportError) -> None:
        if self._error is not None or self._response_done:
            return
        self._error = error
        self._request_open = False
        self._response.fail(error)

    # -- HttpStream ------------------------------------------------------------

    @property
    def request_open(self) -> bool:
        return self._request_open

    async def send(self, data: bytes) -> None:
        if not self._request_open:
            raise self._error or TransportError("the request stream is already closed")
        await self._conn.send_data(self.stream_id, data)

    async def end_request(self) -> None:
        if self._request_open:
            self._request_open = False
            await self._conn.end_stream(self.stream_id)

    async def response_head(self) -> tuple[int, dict[str, str]]:
        return await self._response.read_head()

    async def receive(self) -> bytes:
        return await self._response.read()

    async def abort(self) -> None:
        self._request_open = False
        if not self._response_done:
            self._response_done = True
            await self._conn.reset_stream(self.stream_id)


class H2cConnection:
    """One HTTP/2 prior-knowledge connection to an endpoint, many streams on it.

    Example:
        >>> conn = await H2cConnection.connect("127.0.0.1", 9080, timeout=5)  # doctest: +SKIP
        >>> stream = await conn.open_stream("/invoke/Greeter/greet", {"content-type": ct})
    """

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, authority: str
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._authority = authority
        config = h2.config.H2Configuration(client_side=True, header_encoding=None)
        self._h2 = h2.connection.H2Connection(config=config)
        self._streams: dict[int, _H2Stream] = {}
        self._capacity = asyncio.Condition()
        self._write_lock = asyncio.Lock()
        self._closed: TransportError | None = None
        self._reader_task: asyncio.Task[None] | None = None

    @classmethod
    async def connect(cls, host: str, port: int, *, timeout: float) -> H2cConnection:
        """Open the TCP connection and send the HTTP/2 preface.

        Raises:
            ConnectTimeoutError: not connected within ``timeout`` seconds.
            TransportError: the connection was refused or failed.
        """
        authority = f"{host}:{port}"
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, limit=_READ_CHUNK), timeout
            )
        except TimeoutError:
            raise ConnectTimeoutError(
                f"no connection to endpoint {authority} within {timeout:g} s"
            ) from None
        except OSError as e:
            raise TransportError(f"cannot connect to endpoint {authority}: {e}") from None
        conn = cls(reader, writer, authority)
        conn._h2.local_settings.update(
            {
                h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: _WINDOW,
                h2.settings.SettingCodes.ENABLE_PUSH: 0,
            }
        )
        conn._h2.initiate_connection()
        conn._h2.increment_flow_control_window(_WINDOW - 65535)
        await conn._flush()
        conn._reader_task = asyncio.create_task(conn._read_loop(), name=f"h2c {authority}")
        return conn

    @property
    def is_usable(self) -> bool:
        """False once the connection failed, was closed or is going away."""
        return self._closed is None

    async def open_stream(
        self, path: str, headers: Mapping[str, str], *, method: str = "POST"
    ) -> HttpStream:
        """Start a request; the body follows through the returned stream."""
        async with self._capacity:
            await self._capacity.wait_for(self._has_capacity)
            if self._closed is not None:
                raise self._closed
            stream_id = self._h2.get_next_available_stream_id()
            stream = _H2Stream(self, stream_id)
            self._streams[stream_id] = stream
            request_headers = [
                (b":method", method.encode()),
                (b":scheme", b"http"),
                (b":authority", self._authority.encode()),
                (b":path", path.encode()),
                *((k.lower().encode(), v.encode()) for k, v in headers.items()),
            ]
            self._h2.send_headers(stream_id, request_headers)
        await self._flush()
        return stream

    def _has_capacity(self) -> bool:
        if self._closed is not None:
            return True
        limit = self._h2.remote_settings.max_concurrent_streams
        return self._h2.open_outbound_streams < limit

    async def send_data(self, stream_id: int, data: bytes) -> None:
        view = memoryview(data)
        while view:
            async with self._capacity:
                await self._capacity.wait_for(lambda: self._window(stream_id) != 0)
                self._raise_if_closed(stream_id)
                size = min(len(view), self._window(stream_id), self._h2.max_outbound_frame_size)
                try:
                    self._h2.send_data(stream_id, bytes(view[:size]))
                except h2.exceptions.StreamClosedError:
                    raise TransportError(
                        f"endpoint {self._authority} closed the stream while rt was sending"
                    ) from None
                view = view[size:]
            await self._flush()

    def _window(self, stream_id: int) -> int:
        if self._closed is not None or stream_id not in self._streams:
            return -1  # wakes the waiter, which then raises
        try:
            return self._h2.local_flow_control_window(stream_id)
        except h2.exceptions.StreamClosedError:
            return -1

    def _raise_if_closed(self, stream_id: int) -> None:
        if self._closed is not None:
            raise self._closed
        if stream_id not in self._streams or self._window(stream_id) < 0:
            raise TransportError(f"endpoint {self._authority} closed the stream")

    async def end_stream(self, stream_id: int) -> None:
        if stream_id not in self._streams or self._closed is not None:
            return
        with contextlib.suppress(h2.exceptions.StreamClosedError):
            self._h2.end_stream(stream_id)
        self._forget_if_done(stream_id)
        await self._flush()

    async def reset_stream(self, stream_id: int) -> None:
        if self._streams.pop(stream_id, None) is None or self._closed is not None:
            return
        with contextlib.suppress(h2.exceptions.StreamClosedError):
            self._h2.reset_stream(stream_id, ErrorCodes.CANCEL)
        await self._flush()
        await self._notify_capacity()

    def _forget_if_done(self, stream_id: int) -> None:
        stream = self._h2.streams.get(stream_id)
        if stream is None or stream.closed:
            self._streams.pop(stream_id, None)

    async def close(self) -> None:
        """Close the connection; open streams fail with a TransportError."""
        if self._closed is None:
            with contextlib.suppress(h2.exceptions.ProtocolError):
                self._h2.close_connection()
            with contextlib.suppress(Exception):
                await self._flush()
        self._fail(TransportError(f"connection to endpoint {self._authority} closed by rt"))
        if self._reader_task is not None and self._reader_task is not asyncio.current_task():
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader_task

    async def _flush(self) -> None:
        data = self._h2.data_to_send()
        if not data or self._writer.is_closing():
            return
        async with self._write_lock:
            try:
                self._writer.write(data)
                await self._writer.drain()
            except OSError as e:
                self._fail(TransportError(f"connection to endpoint {self._authority} lost: {e}"))
                raise self._closed or TransportError(str(e)) from None

    async def _notify_capacity(self) -> None:
        async with self._capacity:
            self._capacity.notify_all()

    def _fail(self, error: TransportError) -> None:
        if self._closed is None:
            self._closed = error
        for stream in list(self._streams.values()):
            stream.on_error(self._closed)
        self._streams.clear()
        if not self._writer.is_closing():
            self._writer.close()

    async def _read_loop(self) -> None:
        error: TransportError
        try:
            while True:
                data = await self._reader.read(_READ_CHUNK)
                if not data:
                    error = TransportError(
                        f"endpoint {self._authority} closed the connection mid-stream"
                    )
                    break
                try:
                    events = self._h2.receive_data(data)
                except h2.exceptions.ProtocolError as e:
                    error = TransportError(
                        f"endpoint {self._authority} does not speak HTTP/2 cleartext "
                        f"(prior knowledge) correctly: {e}"
                    )
                    break
                if not self._dispatch(events):
                    error = TransportError(f"endpoint {self._authority} closed the connection")
                    break
                await self._flush()
                await self._notify_capacity()
        except ConnectionResetError:
            # A peer that dies with data in flight resets the connection instead of closing
            # it: the same event for the attempt as the end of file above.
            error = TransportError(
                f"endpoint {self._authority} closed the connection mid-stream (reset)"
            )
        except OSError as e:
            error = TransportError(f"connection to endpoint {self._authority} failed: {e}")
        except TransportError as e:
            error = e
        except asyncio.CancelledError:
            error = TransportError(f"connection to endpoint {self._authority} closed by rt")
        self._fail(error)
        await self._notify_capacity()

    def _dispatch(self, events: list[h2.events.Event]) -> bool:
        for event in events:
            match event:
                case h2.events.ResponseReceived(stream_id=sid, headers=headers):
                    if (s := self._streams.get(sid)) is not None:
                        s.on_head(*_parse_head(headers or []))
                case h2.events.DataReceived(stream_id=sid, data=data):
                    self._h2.acknowledge_received_data(event.flow_controlled_length or 0, sid)
                    if (s := self._streams.get(sid)) is not None and data:
                        s.on_data(data)
                case h2.events.StreamEnded(stream_id=sid):
                    if (s := self._streams.get(sid)) is not None:
                        s.on_end()
                        self._forget_if_done(sid)
                case h2.events.StreamReset(stream_id=sid, error_code=code):
                    if (s := self._streams.pop(sid, None)) is not None:
                        s.on_error(
                            TransportError(
                                f"endpoint {self._authority} reset the stream ({code!r})"
                            )
                        )
                case h2.events.ConnectionTerminated():
                    return False
                case _:
                    pass
        return True


def _parse_head(headers: list[tuple[bytes, bytes]]) -> tuple[int, dict[str, str]]:
    status = 0
    parsed: dict[str, str] = {}
    for name, value in headers:
        key = name.decode("latin-1").lower()
        if key == ":status":
            status = int(value)
        elif not key.startswith(":"):
            parsed[key] = value.decode("latin-1")
    return status, parsed


class H2cPool:
    """The HTTP/2 connection to one endpoint, reopened when it breaks."""

    def __init__(self, host: str, port: int, *, connect_timeout: float) -> None:
        self._host = host
        self._port = port
        self._timeout = connect_timeout
        self._conn: H2cConnection | None = None
        self._lock = asyncio.Lock()

    async def open_stream(self, path: str, headers: Mapping[str, str]) -> HttpStream:
        """A new stream on the live connection (connecting first if needed)."""
        async with self._lock:
            if self._conn is None or not self._conn.is_usable:
                self._conn = await H2cConnection.connect(
                    self._host, self._port, timeout=self._timeout
                )
            conn = self._conn
        return await conn.open_stream(path, headers)

    async def aclose(self) -> None:
        """Close the connection."""
        if self._conn is not None:
            await self._conn.close()
            self._conn = None


# ---------------------------------------------------------------------------
# HTTP/1.1 request/response.


class Http1Exchange:
    """One HTTP/1.1 POST: the body is buffered and sent when the request ends."""

    def __init__(
        self, client: httpx.AsyncClient, url: str, headers: Mapping[str, str], authority: str
    ) -> None:
        self._client = client
        self._url = url
        self._headers = dict(headers)
        self._authority = authority
        self._body = bytearray()
        self._request_open = True
        self._response = _Response()
        self._task: asyncio.Task[None] | None = None

    @property
    def request_open(self) -> bool:
        return self._request_open

    async def send(self, data: bytes) -> None:
        if not self._request_open:
            raise TransportError("the request body is already complete (HTTP/1.1)")
        self._body += data

    async def end_request(self) -> None:
        if self._request_open:
            self._request_open = False
            self._task = asyncio.create_task(self._exchange(), name=f"http1 {self._url}")

    async def response_head(self) -> tuple[int, dict[str, str]]:
        return await self._response.read_head()

    async def receive(self) -> bytes:
        return await self._response.read()

    async def abort(self) -> None:
        self._request_open = False
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _exchange(self) -> None:
        request = self._client.build_request(
            "POST", self._url, headers=self._headers, content=bytes(self._body)
        )
        try:
            response = await self._client.send(request, stream=True)
            try:
                self._response.head(
                    response.status_code, {k.lower(): v for k, v in response.headers.items()}
                )
                async for chunk in response.aiter_raw():
                    self._response.data(chunk)
                self._response.end()
            finally:
                await response.aclose()
        except httpx.ConnectTimeout:
            self._response.fail(
                ConnectTimeoutError(f"no connection to endpoint {self._authority} in time")
            )
        except httpx.TransportError as e:
            self._response.fail(
                TransportError(f"HTTP/1.1 exchange with endpoint {self._authority}: {e}")
            )


class Http1Pool:
    """HTTP/1.1 keep-alive connections to one endpoint (httpx)."""

    def __init__(self, host: str, port: int, *, connect_timeout: float) -> None:
        self._authority = f"{host}:{port}"
        self._client = httpx.AsyncClient(
            http1=True,
            http2=False,
            timeout=httpx.Timeout(None, connect=connect_timeout),
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=64),
        )

    async def open_stream(self, path: str, headers: Mapping[str, str]) -> HttpStream:
        """A buffered exchange; nothing is sent before ``end_request``."""
        url = f"http://{self._authority}{path}"
        return Http1Exchange(self._client, url, headers, self._authority)

    async def aclose(self) -> None:
        """Close every connection."""
        await self._client.aclose()
