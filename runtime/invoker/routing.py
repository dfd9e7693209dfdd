"""One :class:`~runtime.partition.contract.Invoker` for a node that hosts both kinds.

A partition has one invoker; a node has the in-process one (the app it loaded) and
the HTTP-endpoint one (registered deployments). This one sends each attempt to the
invoker that serves it — the remote one when the invocation is pinned to an HTTP
deployment, or when the newest deployment of its service is one; the in-process one
otherwise — and fans the partition's other calls out to both (each ignores
invocations it does not run). Owns that choice only.
"""

from __future__ import annotations

from runtime.invoker.inprocess import InProcessInvoker
from runtime.invoker.remote import RemoteInvoker
from runtime.partition.contract import Attempt, AttemptHost


class RoutingInvoker:
    """Routes attempts between the in-process and the HTTP-endpoint invoker.

    Args:
        local: Runs the services of the app this node loaded.
        remote: Runs the services of registered HTTP deployments.
    """

    def __init__(self, local: InProcessInvoker, remote: RemoteInvoker) -> None:
        self.local = local
        self.remote = remote

    def start(self, host: AttemptHost, attempt: Attempt) -> None:
        if self.remote.serves(attempt):
            self.local.abort(attempt.invocation_id)
            self.remote.start(host, attempt)
        else:
            self.remote.abort(attempt.invocation_id)
            self.local.start(host, attempt)

    def notify(self, invocation_id: str, attempt: int, entries: list[bytes]) -> bool:
        if self.remote.notify(invocation_id, attempt, entries):
            return True
        return self.local.notify(invocation_id, attempt, entries)

    def applied(self, invocation_id: str, attempt: int, journal_len: int) -> None:
        self.local.applied(invocation_id, attempt, journal_len)

    def abort(self, invocation_id: str) -> None:
        self.remote.abort(invocation_id)
        self.local.abort(invocation_id)

    def speculate(self, host: AttemptHost, attempt: Attempt) -> bool:
        if self.remote.serves(attempt):
            return False
        return self.local.speculate(host, attempt)

    def adopt(self, invocation_id: str, attempt: int) -> dict[str, bytes] | None:
        return self.local.adopt(invocation_id, attempt)

    def abort_attempt(self, invocation_id: str, attempt: int) -> None:
        self.remote.abort_attempt(invocation_id, attempt)
        self.local.abort_attempt(invocation_id, attempt)

    async def close(self) -> None:
        await self.remote.close()
        await self.local.close()
