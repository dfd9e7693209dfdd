"""The durable side of the ingress: Invoke records on ``rt.log``, results via Redis pub/sub.

A call is accepted once its ``Invoke`` record is durable in Kafka (the
delivery report of an idempotent, acks=all producer); the result arrives on
this ingress instance's response channel when the owning processor has the
output durably journaled. No polling on the hot path; a slow-path status check
every few seconds covers lost pub/sub messages (e.g. a Redis restart).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time

import redis.asyncio as aioredis

from runtime.ingress.backend import (
    DuplicateWorkflowRun,
    Failure,
    InvocationOutcome,
    InvocationRequest,
    OutputResult,
    OutputStatus,
    SendResult,
    SendStatus,
    ShuttingDown,
)
from runtime.log import records
from runtime.log.producer import LogProducer, partition_of_invocation
from runtime.log.records import InvocationSource, TargetKind
from runtime.log.routing import routing_key_of
from runtime.partition.status import Outcome, Status, decode_status
from runtime.registry import Registry
from runtime.responses import ListenerStopped, Response, ResponseListener, ResponseStatus
from runtime.state.reads import StateReads
from sdk.ids import (
    idempotent_invocation_id,
    invocation_id_for,
    parse_awakeable_id,
    workflow_invocation_id,
)

log = logging.getLogger(__name__)

SAFETY_CHECK_INTERVAL_S = 3.0
"""A caller waiting this long gets its invocation's stored status read (lost pub/sub)."""
SWEEP_EVERY_S = 1.0
"""How often the safety net looks for callers past the interval."""
SWEEP_BATCH = 500


PEEK_TIMEOUT_S = 5.0
"""How long an output read waits for the owner's answer to its peek before reading Redis."""


def _ready(invocation_id: str, outcome: Outcome) -> OutputResult:
    return OutputResult(OutputStatus.READY, to_ingress_outcome(invocation_id, outcome))


def to_ingress_outcome(
    invocation_id: str, outcome: Outcome, content_type: str = "application/json"
) -> InvocationOutcome:
    if outcome.failure is not None:
        f = outcome.failure
        return InvocationOutcome(
            invocation_id, failure=Failure(f.code, f.message, dict(f.metadata))
        )
    return InvocationOutcome(invocation_id, value=outcome.value or b"", content_type=content_type)


class LogIngressBackend:
    """Implements :class:`runtime.ingress.backend.IngressBackend` on Kafka + Redis."""

    def __init__(
        self,
        registry: Registry,
        producer: LogProducer,
        redis: aioredis.Redis,
        listener: ResponseListener,
        prefix: str,
    ) -> None:
        self._registry = registry
        self._producer = producer
        self._reads = StateReads(redis, prefix, producer.partitions)
        self._listener = listener
        self._watched: dict[str, tuple[str, float, asyncio.Future[Response]]] = {}
        """Waiting callers: request id -> (invocation id, last check, future)."""
        self._sweeper: asyncio.Task[None] | None = None

    def _target(self, req: InvocationRequest) -> records.Target:
        svc = self._registry.get(req.service)
        if svc is None:
            raise KeyError(req.service)
        return records.Target(req.service, req.handler, req.key, svc.target_kind(req.handler))

    def _content_type(self, target: records.Target) -> str:
        svc = self._registry.get(target.service)
        handler = svc.handler(target.handler) if svc is not None else None
        return handler.content_type if handler is not None else "application/json"

    def _invocation_id(self, target: records.Target, idem: str | None) -> str:
        if target.kind == TargetKind.WORKFLOW:
            assert target.key is not None
            return workflow_invocation_id(target.service, target.key)
        if idem is not None:
            return idempotent_invocation_id(target.service, target.handler, target.key, idem)
        return invocation_id_for(service=target.service, key=target.key)

    async def _submit(self, record: records.Record, invocation_id: str, key: bytes) -> None:
        partition = partition_of_invocation(invocation_id, self._producer.partitions)
        await self._producer.append(partition, key, record)

    async def _await_response(
        self, invocation_id: str, request_id: str, fut: asyncio.Future[Response]
    ) -> Response:
        """The response, from pub/sub (or in-process) or, if that got lost, from the status.

        One shared sweeper task is the safety net for all waiting callers, rather
        than a timer and an ``asyncio.wait`` per call on the hot path.
        """
        self._watched[request_id] = (invocation_id, time.monotonic(), fut)
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep())
        try:
            return await fut
        except ListenerStopped:
            raise ShuttingDown(invocation_id) from None
        finally:
            self._watched.pop(request_id, None)
            self._listener.forget(request_id)

    async def _sweep(self) -> None:
        try:
            while self._watched:
                await asyncio.sleep(SWEEP_EVERY_S)
                now = time.monotonic()
                due = [
                    (rid, inv_id, fut)
                    for rid, (inv_id, checked, fut) in self._watched.items()
                    if now - checked >= SAFETY_CHECK_INTERVAL_S and not fut.done()
                ]
                for i in range(0, len(due), SWEEP_BATCH):
                    await self._check(due[i : i + SWEEP_BATCH], now)
        finally:
            self._sweeper = None

    async def _check(
        self, due: list[tuple[str, str, asyncio.Future[Response]]], now: float
    ) -> None:
        try:
            stored = await self._stored_outcomes([inv_id for _, inv_id, _ in due])
        except Exception as e:  # noqa: BLE001 - Redis away: the callers keep waiting
            log.warning("ingress safety net: reading %d statuses failed: %s", len(due), e)
            return
        for (rid, inv_id, fut), outcome in zip(due, stored, strict=True):
            if outcome is not None:
                if not fut.done():
                    fut.set_result(Response(rid, inv_id, outcome))
            elif rid in self._watched:
                self._watched[rid] = (inv_id, now, fut)

    async def _stored_outcomes(self, invocation_ids: list[str]) -> list[Outcome | None]:
        """Outcomes of completed invocations (None while running), one round trip."""
        out: list[Outcome | None] = []
        for blob in await self._reads.statuses(invocation_ids):
            status = decode_status(blob) if blob is not None else None
            out.append(status.outcome if status and status.status is Status.COMPLETED else None)
        return out

    async def call(self, request: InvocationRequest) -> InvocationOutcome:
        target = self._target(request)
        inv_id = self._invocation_id(target, request.idempotency_key)
        rid, fut = self._listener.expect()
        record = records.Invoke(
            invocation_id=inv_id,
            target=target,
            input=request.body,
            headers=request.headers,
            idempotency_key=request.idempotency_key,
            source=InvocationSource.INGRESS,
            ingress_sink=records.IngressSink(self._listener.ingress_id, rid),
            created_at_ms=int(time.time() * 1000),
            fresh_id=target.kind != TargetKind.WORKFLOW and request.idempotency_key is None,
        )
        try:
            await self._submit(record, inv_id, routing_key_of(target, inv_id))
        except BaseException:
            self._listener.forget(rid)
            raise
        resp = await self._await_response(inv_id, rid, fut)
        if resp.status == ResponseStatus.DUPLICATE_RUN:
            raise DuplicateWorkflowRun(inv_id)
        assert resp.outcome is not None
        outcome = to_ingress_outcome(inv_id, resp.outcome, self._content_type(target))
        if request.idempotency_key is None:
            return outcome
        expires = await self._idempotency_expiry(inv_id, target)
        return dataclasses.replace(outcome, idempotency_expires_ms=expires)

    async def _idempotency_expiry(self, invocation_id: str, target: records.Target) -> int:
        """When the stored result of an idempotent call expires (epoch ms).

        Its completion time plus its retention, as stored; a caller answered before the
        completion is applied gets now plus the handler's idempotency retention (the
        completion happened just now).
        """
        try:
            blob = await self._reads.status(invocation_id)
        except Exception as e:  # noqa: BLE001 - Redis away: the estimate below is close
            log.warning("reading %s for its idempotency expiry failed: %s", invocation_id, e)
            blob = None
        st = decode_status(blob) if blob is not None else None
        if st is not None and st.status is Status.COMPLETED and st.completed_ms is not None:
            return st.completed_ms + st.retention_ms
        svc = self._registry.get(target.service)
        retention = (
            svc.retention_ms(target.handler, target.kind, idempotent=True) if svc is not None else 0
        )
        return int(time.time() * 1000) + retention

    async def send(self, request: InvocationRequest, delay_ms: int | None) -> SendResult:
        target = self._target(request)
        inv_id = self._invocation_id(target, request.idempotency_key)
        deterministic = target.kind == TargetKind.WORKFLOW or request.idempotency_key is not None
        execute_at = int(time.time() * 1000) + delay_ms if delay_ms else None
        rid, fut = self._listener.expect() if deterministic else ("", None)
        record = records.Invoke(
            invocation_id=inv_id,
            target=target,
            input=request.body,
            headers=request.headers,
            idempotency_key=request.idempotency_key,
            source=InvocationSource.INGRESS,
            ingress_sink=records.IngressSink(self._listener.ingress_id, rid) if fut else None,
            send=True,
            execute_at_ms=execute_at,
            created_at_ms=int(time.time() * 1000),
            fresh_id=not deterministic,
        )
        try:
            await self._submit(record, inv_id, routing_key_of(target, inv_id))
        except BaseException:
            if fut is not None:
                self._listener.forget(rid)
            raise
        status = SendStatus.ACCEPTED
        if fut is not None:
            # Only deterministic ids can be duplicates; ask the owner (it answers on apply).
            try:
                resp = await asyncio.wait_for(asyncio.shield(fut), 30)
                if resp.status in (
                    ResponseStatus.PREVIOUSLY_ACCEPTED,
                    ResponseStatus.DUPLICATE_RUN,
                ):
                    status = SendStatus.PREVIOUSLY_ACCEPTED
            except (TimeoutError, ListenerStopped):
                pass  # durable in the log: accepted, whether or not it is a duplicate
            finally:
                self._listener.forget(rid)
        return SendResult(inv_id, status, execute_at)

    async def attach(self, invocation_id: str) -> OutputResult:
        rid, fut = self._listener.expect()
        record = records.Attach(invocation_id, records.IngressSink(self._listener.ingress_id, rid))
        try:
            await self._submit(record, invocation_id, invocation_id.encode())
        except BaseException:
            self._listener.forget(rid)
            raise
        resp = await self._await_response(invocation_id, rid, fut)
        if resp.status == ResponseStatus.NOT_FOUND or resp.outcome is None:
            return OutputResult(OutputStatus.NOT_FOUND)
        return OutputResult(OutputStatus.READY, to_ingress_outcome(invocation_id, resp.outcome))

    async def output(self, invocation_id: str) -> OutputResult:
        """Peek at the result: from Redis when applied, else from the owner via the log.

        A caller is answered as soon as the output is durable in the log, which may be
        before the partition applies the completion to Redis. So "not completed" in
        Redis is not final: a peek record, appended after that completion, asks the
        owner, who answers with the result once it has applied everything before the
        peek. Once any caller has seen a result, every output read sees it.
        """
        blob = await self._reads.status(invocation_id)
        if blob is None:
            return OutputResult(OutputStatus.NOT_FOUND)
        status = decode_status(blob)
        if status.status is Status.COMPLETED and status.outcome is not None:
            return _ready(invocation_id, status.outcome)
        return await self._peek(invocation_id)

    async def _peek(self, invocation_id: str) -> OutputResult:
        rid, fut = self._listener.expect()
        sink = records.IngressSink(self._listener.ingress_id, rid)
        try:
            await self._submit(
                records.Attach(invocation_id, sink, peek=True), invocation_id,
                invocation_id.encode(),
            )  # fmt: skip
            resp = await asyncio.wait_for(asyncio.shield(fut), PEEK_TIMEOUT_S)
        except (TimeoutError, ListenerStopped):
            # The answer got lost (or the node stops): what Redis has applied by now.
            stored = (await self._stored_outcomes([invocation_id]))[0]
            if stored is not None:
                return _ready(invocation_id, stored)
            return OutputResult(OutputStatus.NOT_READY)
        finally:
            self._listener.forget(rid)
        if resp.status == ResponseStatus.NOT_FOUND:
            return OutputResult(OutputStatus.NOT_FOUND)
        if resp.outcome is None:
            return OutputResult(OutputStatus.NOT_READY)
        return _ready(invocation_id, resp.outcome)

    async def resolve_awakeable(self, awakeable_id: str, value: bytes) -> None:
        inv_id, index = parse_awakeable_id(awakeable_id)
        rec = records.Complete(inv_id, index, value=value, awakeable=True)
        await self._submit(rec, inv_id, inv_id.encode())

    async def reject_awakeable(self, awakeable_id: str, message: str) -> None:
        inv_id, index = parse_awakeable_id(awakeable_id)
        rec = records.Complete(inv_id, index, failure=records.Failure(500, message), awakeable=True)
        await self._submit(rec, inv_id, inv_id.encode())
