"""The HTTP-endpoint invoker: runs attempts on registered SDK endpoints (Restate's protocol).

The second implementation of the partition's
:class:`~runtime.partition.contract.Invoker` (ADR 0015), next to the in-process
one. Each attempt is one :class:`runtime.protocol.RemoteAttempt` on the deployment
the invocation is pinned to, or, when it is not pinned yet, on the newest
deployment serving its service (:meth:`runtime.registry.Registry.newest`):

- the attempt's first entries are appended as ``records.PinDeployment`` (the pin is
  decided by the log, so every retry, replay and resumption — after a crash, a
  rebalance or a restart — goes to the same deployment); later ones as
  ``AppendJournal``, each with the journal position the attempt reports;
- a ``ctx.run`` proposal is appended and acknowledged to the endpoint only once the
  append is durable (invariant 5, output commit);
- notifications the partition journals (completions, cancellation) are forwarded in
  log order; an endpoint that can no longer take them gets them on its next attempt;
- the endpoint's suspension becomes ``Suspend``; its error, a transport or protocol
  failure, or a timeout becomes ``AttemptFailed`` with the next retry time from the
  service's retry policy (:mod:`runtime.invoker.retries`).

Owns the bridge between the partition's contract and the protocol client; state is
sent eagerly (the object's whole state), so a lazy-state handler reads it as eager.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import replace
from datetime import timedelta

from runtime.invoker.inprocess import random_seed
from runtime.invoker.retries import failure_record
from runtime.log import records
from runtime.partition.contract import Attempt, AttemptHost
from runtime.partition.status import Outcome
from runtime.protocol import (
    AttemptError,
    AttemptFailed,
    AttemptStart,
    CalleeIds,
    CalleeRef,
    Ended,
    EndpointResponseError,
    ErrorBehavior,
    NewEntries,
    ProtocolMode,
    RemoteAttempt,
    RemoteEndpoint,
    RunProposal,
    Suspended,
)
from runtime.registry import (
    Deployment,
    HandlerKind,
    HttpEndpoint,
    Registry,
    ServiceType,
    Timeouts,
)
from sdk import engine as sj
from sdk.ids import child_invocation_id, idempotent_invocation_id, workflow_invocation_id
from sdk.protocol import IdentitySigner

log = logging.getLogger("rt.invoker.remote")

NOT_DEPLOYED = 404
UNSUPPORTED = 501


class _Runner:
    def __init__(
        self, invoker: RemoteInvoker, host: AttemptHost, attempt: Attempt, deployment: Deployment
    ) -> None:
        self.invoker = invoker
        self.host = host
        self.spec = attempt
        self.inv_id = attempt.invocation_id
        self.number = attempt.number
        self.deployment = deployment
        self.pinned = attempt.deployment is not None
        self.notes: asyncio.Queue[list[sj.Notification]] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None
        self.remote: RemoteAttempt | None = None

    def notify(self, entries: list[bytes]) -> None:
        notes: list[sj.Notification] = [
            e for e in map(sj.decode_entry, entries) if isinstance(e, sj.NOTIFICATION_TYPES)
        ]
        if notes:
            self.notes.put_nowait(notes)

    async def run(self) -> None:
        try:
            await self._run()
        except asyncio.CancelledError:
            raise
        except EndpointResponseError as e:
            code = NOT_DEPLOYED if e.status == 404 else 500
            self._fail(code, f"endpoint {self._uri}: {e}")
        except AttemptError as e:
            self._fail(500, f"endpoint {self._uri}: {type(e).__name__}: {e}")
        except Exception as e:
            log.exception(
                "attempt %d of %s crashed in the remote invoker", self.number, self.inv_id
            )
            self._fail(500, f"invoker error: {type(e).__name__}: {e}")
        finally:
            if self.remote is not None:
                with contextlib.suppress(Exception):
                    await self.remote.close()
            self.invoker._done(self)

    @property
    def _uri(self) -> str:
        ep = self.deployment.endpoint
        return ep.uri if isinstance(ep, HttpEndpoint) else self.deployment.id

    async def _run(self) -> None:
        spec = self.spec
        target = spec.target
        blobs = (
            spec.journal if spec.journal is not None else await self.host.load_journal(self.inv_id)
        )
        journal = [sj.decode_entry(b) for b in blobs]
        state: dict[str, bytes] = {}
        if spec.object_key is not None:
            state = dict(spec.state or await self.host.object_state(*spec.object_key))
        timeouts = self.invoker.timeouts(target.service, target.handler)
        start = AttemptStart(
            invocation_id=self.inv_id,
            service=target.service,
            handler=target.handler,
            key=target.key,
            journal=journal,
            callee_ids=self.invoker.callee_ids(self.inv_id),
            random_seed=random_seed(self.inv_id),
            state=state,
            retry_count=spec.retry_count,
            idempotency_key=spec.idempotency_key,
            headers=dict(spec.headers),
            inactivity_timeout=timedelta(seconds=timeouts.inactivity_s),
            abort_timeout=None if timeouts.abort_s is None else timedelta(seconds=timeouts.abort_s),
        )
        endpoint = self.invoker.endpoint(self.deployment)
        self.remote = remote = await RemoteAttempt.open(endpoint, start)
        sender = asyncio.get_running_loop().create_task(self._forward(remote))
        pending: asyncio.Future[int] | None = None
        try:
            async for progress in remote:
                match progress:
                    case NewEntries(entries=entries, position=position):
                        if entries:
                            pending = self._append_entries(list(entries), position)
                    case RunProposal() as proposal:
                        position = remote.journal_length
                        await self._append_entries([proposal.completion], position)
                        await remote.ack(proposal)
                    case Suspended() as suspended:
                        await _settled(pending)
                        self._suspend(suspended)
                        return
                    case AttemptFailed() as failed:
                        await _settled(pending)
                        self._failed(failed)
                        return
                    case Ended(output=output):
                        await _settled(pending)
                        self._answer(output)
                        return
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
        raise AttemptError("the endpoint's stream ended without an outcome")

    async def _forward(self, remote: RemoteAttempt) -> None:
        """Deliver notifications in the order the partition journaled them."""
        while True:
            notes = await self.notes.get()
            try:
                await remote.notify(notes)
            except ValueError as e:
                # A notification the endpoint cannot be told about: it stops hearing from
                # this attempt, suspends at its inactivity timeout, and the next attempt
                # replays the journal with everything in it.
                log.warning("invocation %s: not forwarding notifications: %s", self.inv_id, e)
                return

    def _append_entries(self, entries: list[sj.JournalEntry], position: int) -> asyncio.Future[int]:
        blobs = [sj.encode_entry(e) for e in entries]
        epoch = self.host.epoch
        if self.pinned:
            return self.host.append(
                records.AppendJournal(self.inv_id, epoch, self.number, blobs, position)
            )
        self.pinned = True
        return self.host.append(
            records.PinDeployment(
                self.inv_id, epoch, self.number, self.deployment.id, blobs, position
            )
        )

    def _suspend(self, s: Suspended) -> None:
        if not s.awaiting and not s.ready and not s.named_signals:
            # Awakeables of protocol v5+ SDKs are signals by index, which rt's journal
            # cannot hold yet (ADR 0018 §5): resuming at once would loop, so it fails.
            self._fail(
                UNSUPPORTED,
                f"the endpoint suspended awaiting signals {sorted(s.signals)}: awakeables "
                "of remote SDKs are not supported by rt yet",
            )
            return
        # ``ready`` (an invocation id it needs now) suspends awaiting nothing: the
        # partition resumes it at once. A named signal resumes it (``SIGNAL_WAKE``).
        awaiting = [] if s.ready else sorted(s.awaiting)
        if s.named_signals and not s.ready:
            awaiting.insert(0, sj.SIGNAL_WAKE)
        self.host.append(records.Suspend(self.inv_id, self.host.epoch, self.number, awaiting))

    def _failed(self, f: AttemptFailed) -> None:
        detail = records.failure_detail(f.stacktrace, f.command_index, f.command_name)
        if f.behavior is ErrorBehavior.FAIL:
            self.host.append(
                records.AttemptFailed(
                    self.inv_id,
                    self.host.epoch,
                    self.number,
                    f.code,
                    f.message,
                    None,
                    detail=detail,
                )  # fmt: skip
            )
            return
        self._fail(
            f.code, f.message, f.retry_after, pause=f.behavior is ErrorBehavior.PAUSE,
            detail=detail,
        )  # fmt: skip

    def _fail(
        self,
        code: int,
        message: str,
        retry_after: timedelta | None = None,
        pause: bool = False,
        detail: records.FailureDetail | None = None,
    ) -> None:
        rec = failure_record(
            self.invoker.registry, self.spec, self.host.epoch, code, message, retry_after, detail
        )
        if pause and rec.retry_at_ms is not None:
            rec = records.AttemptFailed(
                rec.invocation_id, rec.epoch, rec.attempt, code, message, None, True, detail
            )
        self.host.append(rec)

    def _answer(self, output: sj.OutputCommand | None) -> None:
        if output is None:
            return
        result = output.result
        if isinstance(result, sj.Failure):
            failure = records.Failure(result.code, result.message, dict(result.metadata))
            self.host.answer_early(self.inv_id, Outcome(failure=failure))
        else:
            self.host.answer_early(self.inv_id, Outcome(value=result.data))


async def _settled(pending: asyncio.Future[int] | None) -> None:
    if pending is not None:
        await pending


class RemoteInvoker:
    """Runs attempts on the HTTP endpoints of registered deployments.

    Args:
        registry: The service model with its deployments (kept current by the node's
            :class:`~runtime.invoker.deployments.DeploymentCatalog`).
        always_replay: The node's ``always_replay`` setting: every attempt is asked to
            suspend at once (inactivity timeout 0), so the endpoint suspends whenever it
            needs the runtime and resumes by replay, as in-process handlers do then.
        signer: Signs every request with rt's request identity (None: unsigned).
    """

    def __init__(
        self,
        registry: Registry,
        always_replay: bool = False,
        signer: IdentitySigner | None = None,
    ) -> None:
        self.registry = registry
        self.always_replay = always_replay
        self.signer = signer
        self._live: dict[str, _Runner] = {}
        self._endpoints: dict[str, tuple[HttpEndpoint, RemoteEndpoint]] = {}
        self._closing: set[asyncio.Task[None]] = set()

    def timeouts(self, service: str, handler: str) -> Timeouts:
        """The handler's attempt timeouts from the service model (``always_replay``: 0)."""
        t = self.registry.timeouts(service, handler)
        return replace(t, inactivity_s=0.0) if self.always_replay else t

    def serves(self, attempt: Attempt) -> bool:
        """Whether the attempt runs on an HTTP endpoint: its pin, or the newest
        deployment of its service, is one."""
        if attempt.deployment is not None:
            d = self.registry.deployment(attempt.deployment)
            return d is None or not d.in_process
        newest = self.registry.newest(attempt.target.service)
        return newest is not None and not newest.in_process

    def endpoint(self, deployment: Deployment) -> RemoteEndpoint:
        """The connections of a deployment's endpoint (shared by its attempts)."""
        ep = deployment.endpoint
        assert isinstance(ep, HttpEndpoint)
        known = self._endpoints.get(deployment.id)
        if known is not None and known[0] == ep:
            return known[1]
        if known is not None:  # updated in place: new connections, old ones closed
            self._close_later(known[1])
        remote = RemoteEndpoint(
            ep.uri,
            protocol_version=ep.protocol_version,
            mode=ProtocolMode.BIDI_STREAM if ep.bidi else ProtocolMode.REQUEST_RESPONSE,
            use_http_11=ep.use_http_11,
            headers=dict(ep.additional_headers),
            signer=self.signer,
        )
        self._endpoints[deployment.id] = (ep, remote)
        return remote

    def callee_ids(self, invocation_id: str) -> CalleeIds:
        """The invocation ids rt derives for the calls and sends of an invocation, as the
        in-process context does (``sdk._context``): idempotent, workflow run, or child."""

        def callee(ref: CalleeRef) -> str:
            if ref.idempotency_key is not None:
                return idempotent_invocation_id(
                    ref.service, ref.handler, ref.key, ref.idempotency_key
                )
            svc = self.registry.get(ref.service)
            info = svc.handler(ref.handler) if svc is not None else None
            if (
                ref.key is not None
                and svc is not None
                and svc.ty is ServiceType.WORKFLOW
                and info is not None
                and info.kind is HandlerKind.WORKFLOW
            ):
                return workflow_invocation_id(ref.service, ref.key)
            return child_invocation_id(invocation_id, ref.command_index, ref.service, ref.key)

        return callee

    def start(self, host: AttemptHost, attempt: Attempt) -> None:
        inv_id = attempt.invocation_id
        self.abort(inv_id)
        deployment = self._deployment_of(attempt)
        if deployment is None:
            where = attempt.deployment or f"serving {attempt.target.service}"
            msg = (
                f"deployment {where} is not registered"
                if attempt.deployment
                else f"no deployment {where}"
            )
            rec = failure_record(self.registry, attempt, host.epoch, NOT_DEPLOYED, msg, None)
            host.append(rec)
            return
        runner = _Runner(self, host, attempt, deployment)
        self._live[inv_id] = runner
        runner.task = asyncio.get_running_loop().create_task(
            runner.run(), name=f"rt-remote-attempt-{inv_id}-{attempt.number}"
        )

    def _deployment_of(self, attempt: Attempt) -> Deployment | None:
        if attempt.deployment is not None:
            d = self.registry.deployment(attempt.deployment)
        else:
            d = self.registry.newest(attempt.target.service)
        return d if d is not None and isinstance(d.endpoint, HttpEndpoint) else None

    def notify(self, invocation_id: str, attempt: int, entries: list[bytes]) -> bool:
        runner = self._live.get(invocation_id)
        if runner is None or runner.number != attempt:
            return False
        runner.notify(entries)
        return True

    def applied(self, invocation_id: str, attempt: int, journal_len: int) -> None:
        """Nothing to do: run results are acknowledged once their append is durable."""

    def abort(self, invocation_id: str) -> None:
        runner = self._live.pop(invocation_id, None)
        if runner is not None and runner.task is not None and not runner.task.done():
            runner.task.cancel()

    def speculate(self, host: AttemptHost, attempt: Attempt) -> bool:
        return False  # speculative hand-off is in-process only (ADR 0013)

    def adopt(self, invocation_id: str, attempt: int) -> dict[str, bytes] | None:
        return None

    def abort_attempt(self, invocation_id: str, attempt: int) -> None:
        runner = self._live.get(invocation_id)
        if runner is not None and runner.number == attempt:
            self.abort(invocation_id)

    def live(self, invocation_id: str) -> bool:
        """Whether an attempt of the invocation runs here."""
        return invocation_id in self._live

    def _done(self, runner: _Runner) -> None:
        if self._live.get(runner.inv_id) is runner:
            del self._live[runner.inv_id]

    def _close_later(self, endpoint: RemoteEndpoint) -> None:
        task = asyncio.get_running_loop().create_task(endpoint.aclose())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        tasks = [r.task for r in self._live.values() if r.task is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._live.clear()
        endpoints = [remote for _, remote in self._endpoints.values()]
        self._endpoints.clear()
        await asyncio.gather(
            *(e.aclose() for e in endpoints), *self._closing, return_exceptions=True
        )
