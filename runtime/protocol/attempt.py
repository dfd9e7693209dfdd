"""One invocation attempt on a remote SDK endpoint, over Restate's service protocol.

Owns the client side of an attempt: open ``POST {uri}/invoke/{service}/{handler}``,
send ``StartMessage`` and the journal so far, then turn what the endpoint sends into
rt journal entries and outcomes, and rt's notifications and acks into messages. It
does not persist anything: the caller (an HTTP-endpoint invoker) appends what the
attempt yields to the log, in order, and only then acknowledges run results
(output commit).

Usage::

    async with RemoteEndpoint("http://127.0.0.1:9080", protocol_version=7) as endpoint:
        attempt = await RemoteAttempt.open(endpoint, start)
        async for progress in attempt:
            match progress:
                case NewEntries(entries=entries): ...       # append to the journal
                case RunProposal() as p:                    # persist p.completion, then
                    await attempt.ack(p)
                case Suspended() | AttemptFailed() | Ended(): ...   # the last item
        await attempt.close()

Timeouts (Restate's semantics): no message from the endpoint for the inactivity
timeout closes the request stream, asking the endpoint to suspend; if it has not
finished one abort timeout later, the stream is dropped and
:class:`~runtime.protocol.errors.AttemptAbortedError` raised.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from types import TracebackType

from runtime.protocol.discovery import UNSIGNED_HINT, DiscoveredEndpoint, normalize_uri
from runtime.protocol.manifest import ProtocolMode
from runtime.protocol.transport import H2cPool, Http1Pool, HttpStream, split_uri
from sdk.engine import InputCommand, JournalEntry, OutputCommand
from sdk.protocol import (
    FINAL_PROGRESS,
    AttemptAbortedError,
    AttemptNotification,
    AttemptProgress,
    AttemptStart,
    Ended,
    EndpointResponseError,
    Frame,
    FrameDecoder,
    IdentitySigner,
    JournalTranslator,
    MessageType,
    NewEntries,
    ProtocolViolationError,
    RunProposal,
    TransportError,
    attempt_failed,
    check_protocol_version,
    encode_message,
    invocation_content_type,
    pb,
)

_U64 = (1 << 64) - 1
_ERROR_BODY_LIMIT = 4096


@dataclass(frozen=True)
class Timeouts:
    """Per-endpoint timeouts (Restate's defaults).

    Attributes:
        connect: to establish the connection.
        inactivity: without a message from the endpoint before asking it to suspend.
        abort: after that request, before dropping the attempt.
    """

    connect: timedelta = timedelta(seconds=10)
    inactivity: timedelta = timedelta(minutes=1)
    abort: timedelta = timedelta(minutes=10)


class RemoteEndpoint:
    """A registered SDK endpoint and its connections, shared by all its attempts.

    Args:
        uri: the endpoint (``http://host:port[/prefix]``).
        protocol_version: the negotiated invocation-protocol version (5-7).
        mode: bidirectional streaming (HTTP/2 only) or request/response.
        use_http_11: invoke over HTTP/1.1 (request/response only) instead of h2c.
        headers: extra headers for every request.
        timeouts: connect, inactivity and abort timeouts.
        signer: signs every request with rt's request identity (Restate's scheme v1),
            for endpoints that only accept requests signed by a known key.

    Raises:
        ValueError: an unsupported version, or bidirectional mode over HTTP/1.1.
    """

    def __init__(
        self,
        uri: str,
        *,
        protocol_version: int,
        mode: ProtocolMode = ProtocolMode.BIDI_STREAM,
        use_http_11: bool = False,
        headers: Mapping[str, str] | None = None,
        timeouts: Timeouts | None = None,
        signer: IdentitySigner | None = None,
    ) -> None:
        self.uri = normalize_uri(uri)
        self.signer = signer
        self.protocol_version = check_protocol_version(protocol_version)
        if use_http_11 and mode is ProtocolMode.BIDI_STREAM:
            raise ValueError("bidirectional streaming needs HTTP/2; use request/response")
        self.mode = mode
        self.use_http_11 = use_http_11
        self.headers = dict(headers or {})
        self.timeouts = timeouts or Timeouts()
        host, port, self._prefix = split_uri(self.uri)
        connect = self.timeouts.connect.total_seconds()
        self._pool: H2cPool | Http1Pool = (
            Http1Pool(host, port, connect_timeout=connect)
            if use_http_11
            else H2cPool(host, port, connect_timeout=connect)
        )

    @classmethod
    def from_discovery(
        cls,
        discovered: DiscoveredEndpoint,
        *,
        headers: Mapping[str, str] | None = None,
        timeouts: Timeouts | None = None,
    ) -> RemoteEndpoint:
        """The endpoint as discovered: its negotiated version, mode and HTTP version."""
        return cls(
            discovered.uri,
            protocol_version=discovered.manifest.protocol_version,
            mode=discovered.protocol_mode,
            use_http_11=discovered.use_http_11,
            headers=headers,
            timeouts=timeouts,
        )

    async def open_stream(self, service: str, handler: str, headers: dict[str, str]) -> HttpStream:
        """Start ``POST {uri}/invoke/{service}/{handler}``."""
        path = f"{self._prefix}/invoke/{service}/{handler}"
        signed = {} if self.signer is None else self.signer.headers(path)
        return await self._pool.open_stream(path, {**headers, **self.headers, **signed})

    async def aclose(self) -> None:
        """Close the endpoint's connections (attempts still open fail)."""
        await self._pool.aclose()

    async def __aenter__(self) -> RemoteEndpoint:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class RemoteAttempt:
    """One attempt of one invocation on a :class:`RemoteEndpoint`; see the module doc.

    Iterate it for progress (the last item is :class:`Suspended`,
    :class:`AttemptFailed` or :class:`Ended`); transport, protocol and timeout
    failures raise :class:`~runtime.protocol.errors.AttemptError` subclasses instead.
    """

    def __init__(
        self,
        endpoint: RemoteEndpoint,
        stream: HttpStream,
        translator: JournalTranslator,
        journal_length: int,
        start: AttemptStart,
    ) -> None:
        self._endpoint = endpoint
        self._stream = stream
        self._translator = translator
        self._journal_length = journal_length
        self._pending: deque[AttemptProgress] = deque()
        self._frames: deque[Frame] = deque()
        self._decoder = FrameDecoder()
        self._finished = False
        self._head_checked = False
        self._output: OutputCommand | None = None
        self._inactivity = (
            start.inactivity_timeout
            if start.inactivity_timeout is not None
            else endpoint.timeouts.inactivity
        ).total_seconds()
        self._abort = (
            start.abort_timeout if start.abort_timeout is not None else endpoint.timeouts.abort
        ).total_seconds()
        self._closing = False
        self._deadline = asyncio.get_running_loop().time() + self._inactivity
        self.server: str | None = None
        """The endpoint's ``x-restate-server`` header, once the response started."""

    @classmethod
    async def open(cls, endpoint: RemoteEndpoint, start: AttemptStart) -> RemoteAttempt:
        """Open the HTTP stream and send the start message and the journal.

        For a first attempt (empty journal) the Input command is built from
        ``start.input`` and ``start.headers`` and reported as the first new entry.

        Raises:
            TransportError: no connection (ConnectTimeoutError when it timed out).
            ValueError: the journal is not one a remote endpoint can replay.
        """
        translator = JournalTranslator(start.callee_ids)
        journal = list(start.journal)
        first_input: InputCommand | None = None
        if not journal:
            first_input = InputCommand(headers=dict(start.headers), body=start.input)
            journal = [first_input]
        replay = translator.replay(journal)
        headers = {
            "content-type": invocation_content_type(endpoint.protocol_version),
            "accept": invocation_content_type(endpoint.protocol_version),
            "x-restate-invocation-id": start.invocation_id,
        }
        stream = await endpoint.open_stream(start.service, start.handler, headers)
        attempt = cls(endpoint, stream, translator, len(start.journal), start)
        attempt._output = next((e for e in journal if isinstance(e, OutputCommand)), None)
        if first_input is not None:
            attempt._pending.append(NewEntries((first_input,), position=0))
            attempt._journal_length = 1
        try:
            await stream.send(encode_message(_start_message(start, len(replay))) + b"".join(replay))
            if endpoint.mode is ProtocolMode.REQUEST_RESPONSE:
                await stream.end_request()
        except BaseException:
            await stream.abort()
            raise
        return attempt

    # ------------------------------------------------------------------
    # What the caller sends.

    @property
    def journal_length(self) -> int:
        """Length of the invocation's journal once everything reported so far is appended."""
        return self._journal_length

    @property
    def finished(self) -> bool:
        """True after the last progress item, an error, or :meth:`close`."""
        return self._finished

    @property
    def accepts_messages(self) -> bool:
        """True while notifications and acks still reach the endpoint."""
        return not self._finished and self._stream.request_open

    async def notify(self, notifications: Iterable[AttemptNotification]) -> bool:
        """Deliver notifications the runtime appended to the journal, in journal order.

        Returns:
            False when they could not be delivered (request/response mode, the endpoint
            was asked to suspend, or the attempt is over): a later attempt replays them.

        Raises:
            ValueError: a completion of a command the journal does not have, or one
                that is never completed.
        """
        frames = []
        for notification in notifications:
            self._journal_length += 1
            frame = self._translator.notification(notification)
            if frame is not None:
                frames.append(frame)
        return await self._send(b"".join(frames))

    async def ack(self, proposal: RunProposal) -> bool:
        """Tell the endpoint a run result is durable (append ``proposal.completion`` first).

        Returns:
            False when the endpoint can no longer be told; it then suspends awaiting
            the run, and a later attempt replays the durable result.
        """
        self._journal_length += 1
        return await self._send(self._translator.run_ack(proposal))

    async def ack_command(self, command_index: int) -> bool:
        """Tell the endpoint a command listed in :attr:`NewEntries.ack_requested` is durable."""
        return await self._send(encode_message(pb.CommandAckMessage(command_index=command_index)))

    async def close(self) -> None:
        """Release the stream; an unfinished attempt is dropped (stream reset)."""
        if self._finished:
            with contextlib.suppress(TransportError):
                await self._stream.end_request()
            return
        self._finished = True
        await self._stream.abort()

    async def __aenter__(self) -> RemoteAttempt:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _send(self, data: bytes) -> bool:
        if not self.accepts_messages:
            return False
        if data:
            try:
                await self._stream.send(data)
            except TransportError:
                return False  # the iterator reports the broken stream
            self._touch()
        return True

    # ------------------------------------------------------------------
    # What the endpoint sends.

    def __aiter__(self) -> AsyncIterator[AttemptProgress]:
        return self

    async def __anext__(self) -> AttemptProgress:
        if self._pending:
            return self._pending.popleft()
        if self._finished:
            raise StopAsyncIteration
        try:
            item = await self._next_progress()
        except BaseException:
            self._finished = True
            await self._stream.abort()
            raise
        if isinstance(item, FINAL_PROGRESS):
            self._finished = True
            with contextlib.suppress(TransportError):
                await self._stream.end_request()
        return item

    async def _next_progress(self) -> AttemptProgress:
        while True:
            while self._frames:
                item = await self._handle(self._frames.popleft())
                if item is not None:
                    return item
            chunk = await self._receive()
            if not chunk:
                raise ProtocolViolationError(
                    "the endpoint ended the response without an End, Suspension or Error message"
                )
            self._frames.extend(self._decoder.feed(chunk))

    async def _handle(self, frame: Frame) -> AttemptProgress | None:
        ty = frame.type
        if ty.is_command:
            return await self._commands(frame)
        match ty:
            case MessageType.PROPOSE_RUN_COMPLETION:
                return self._translator.run_proposal(frame)
            case MessageType.SUSPENSION:
                return self._translator.suspension(frame)
            case MessageType.ERROR:
                return attempt_failed(frame)
            case MessageType.END:
                return Ended(self._output)
            case MessageType.AWAITING_ON:
                return None  # a hint for observability; nothing to do
        raise ProtocolViolationError(f"the endpoint sent {ty.name}, which only the runtime sends")

    async def _commands(self, first: Frame) -> NewEntries:
        """One batch of new entries: this command and the commands right behind it."""
        position = self._journal_length
        entries: list[JournalEntry] = []
        acks: list[int] = []
        replies: list[bytes] = []
        frame: Frame | None = first
        while frame is not None:
            index = len(self._translator.commands)
            new, back = self._translator.command(frame)
            if frame.requested_ack:
                acks.append(index)
            entries.extend(new)
            replies.extend(back)
            frame = (
                self._frames.popleft() if self._frames and self._frames[0].type.is_command else None
            )
        for entry in entries:
            if isinstance(entry, OutputCommand):
                self._output = entry
        self._journal_length += len(entries)
        if replies:
            await self._send(b"".join(replies))
        return NewEntries(tuple(entries), position, tuple(acks))

    async def _receive(self) -> bytes:
        loop = asyncio.get_running_loop()
        while True:
            remaining = self._deadline - loop.time()
            if remaining <= 0:
                await self._on_deadline()
                continue
            try:
                chunk = await asyncio.wait_for(self._next_chunk(), remaining)
            except TimeoutError:
                await self._on_deadline()
                continue
            self._touch()
            return chunk

    async def _next_chunk(self) -> bytes:
        if not self._head_checked:
            status, headers = await self._stream.response_head()
            await self._check_head(status, headers)
            self._head_checked = True
        return await self._stream.receive()

    async def _check_head(self, status: int, headers: dict[str, str]) -> None:
        self.server = headers.get("x-restate-server")
        version = self._endpoint.protocol_version
        if status != 200:
            body = await self._error_body()
            what = {
                404: "the endpoint does not serve this handler",
                401: f"the endpoint refused the request's identity{UNSIGNED_HINT}",
                415: f"the endpoint refused service protocol version {version}",
            }.get(status, "the endpoint refused the invocation")
            raise EndpointResponseError(
                f"{what} (HTTP {status}): {body[:500].decode('utf-8', 'replace')!r}",
                status=status,
                body=body,
            )
        content_type = headers.get("content-type", "")
        if content_type != invocation_content_type(version):
            raise ProtocolViolationError(
                f"the endpoint answered with content-type {content_type!r}, "
                f"expected {invocation_content_type(version)!r}"
            )

    async def _error_body(self) -> bytes:
        with contextlib.suppress(TransportError):
            await self._stream.end_request()  # some servers answer errors only after the body
        body = b""
        with contextlib.suppress(TransportError, TimeoutError):
            while len(body) < _ERROR_BODY_LIMIT:
                chunk = await asyncio.wait_for(self._stream.receive(), 1.0)
                if not chunk:
                    break
                body += chunk
        return body

    async def _on_deadline(self) -> None:
        loop = asyncio.get_running_loop()
        if not self._closing:
            self._closing = True
            self._deadline = loop.time() + self._abort
            with contextlib.suppress(TransportError):
                await self._stream.end_request()
            return
        raise AttemptAbortedError(
            f"the endpoint did not finish within the abort timeout ({self._abort:g} s) after "
            f"being asked to suspend (inactivity timeout {self._inactivity:g} s)"
        )

    def _touch(self) -> None:
        if not self._closing:
            self._deadline = asyncio.get_running_loop().time() + self._inactivity


def _start_message(start: AttemptStart, known_entries: int) -> pb.StartMessage:
    message = pb.StartMessage(
        id=start.invocation_id.encode(),
        debug_id=start.invocation_id,
        known_entries=known_entries,
        partial_state=start.state is None,
        key=start.key or "",
        retry_count_since_last_stored_entry=start.retry_count,
        duration_since_last_stored_entry=int(start.since_last_entry.total_seconds() * 1000),
        random_seed=start.random_seed & _U64,
    )
    for key, value in (start.state or {}).items():
        message.state_map.add(key=key.encode(), value=value)
    if start.idempotency_key is not None:
        message.idempotency_key = start.idempotency_key
    return message
