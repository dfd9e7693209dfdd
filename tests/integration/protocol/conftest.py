"""Fixtures for the protocol tests: real SDK endpoints (session-scoped) and attempt helpers."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from runtime.protocol import (
    AttemptProgress,
    AttemptStart,
    NewEntries,
    RemoteAttempt,
    RemoteEndpoint,
    RunProposal,
    Signal,
)
from sdk.engine import JournalEntry
from sdk.ids import child_invocation_id, invocation_id_for
from tests.integration.protocol.endpoints import (
    EndpointProcess,
    start_hypercorn,
    start_node,
    start_uvicorn,
)


def _serve(tmp: Path, start: Any) -> Iterator[EndpointProcess]:
    endpoint = start(tmp)
    try:
        yield endpoint
    finally:
        endpoint.stop()


@pytest.fixture(scope="session")
def python_h2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EndpointProcess]:
    """restate-sdk 1.2.0 served by hypercorn over h2c."""
    yield from _serve(tmp_path_factory.mktemp("hypercorn"), start_hypercorn)


@pytest.fixture(scope="session")
def python_http11(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EndpointProcess]:
    """restate-sdk 1.2.0 served by uvicorn over HTTP/1.1."""
    yield from _serve(tmp_path_factory.mktemp("uvicorn"), start_uvicorn)


@pytest.fixture(scope="session")
def node_h2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EndpointProcess]:
    """@restatedev/restate-sdk on Node.js over h2c."""
    yield from _serve(tmp_path_factory.mktemp("node"), start_node)


def start_of(
    service: str,
    handler: str,
    *,
    input: bytes = b"",
    key: str | None = None,
    journal: Sequence[JournalEntry | Signal] = (),
    invocation_id: str | None = None,
    **options: Any,
) -> AttemptStart:
    """An AttemptStart with rt's deterministic callee ids."""
    inv = invocation_id or invocation_id_for(service=service, key=key)
    return AttemptStart(
        invocation_id=inv,
        service=service,
        handler=handler,
        key=key,
        journal=list(journal),
        callee_ids=lambda ref: child_invocation_id(inv, ref.command_index, ref.service, ref.key),
        input=input,
        **options,
    )


async def run_attempt(endpoint: RemoteEndpoint, start: AttemptStart) -> list[AttemptProgress]:
    """Run one attempt to its end, acknowledging every run proposal at once."""
    attempt = await RemoteAttempt.open(endpoint, start)
    progress: list[AttemptProgress] = []
    try:
        async for item in attempt:
            progress.append(item)
            if isinstance(item, RunProposal):
                await attempt.ack(item)
    finally:
        await attempt.close()
    return progress


def journal_of(
    start: AttemptStart, progress: Sequence[AttemptProgress]
) -> list[JournalEntry | Signal]:
    """The journal the runtime would hold after this attempt (acked run results included)."""
    journal = list(start.journal)
    for item in progress:
        if isinstance(item, NewEntries):
            assert item.position == len(journal)
            journal.extend(item.entries)
        elif isinstance(item, RunProposal):
            journal.append(item.completion)
    return journal


FAST = timedelta(seconds=1)
