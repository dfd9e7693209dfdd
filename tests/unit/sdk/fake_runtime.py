"""An in-memory stand-in for the rt runtime, driving ``sdk.engine.InvocationDriver``.

It plays the runtime's part of the driver contract (ADR 0003): persists every
``journal_delta``, answers awaited commands with scripted completions, acks
durability, applies state mutations to its store, and can drop the driver and
replay from scratch at any point (always-replay mode, or on demand).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sdk import _ids
from sdk.engine import (
    AttachInvocationCommand,
    AwakeableCommand,
    Blocked,
    CallCommand,
    CancelSignal,
    ClearAllStateCommand,
    ClearStateCommand,
    Command,
    CompletePromiseCommand,
    Completion,
    Done,
    Failed,
    Failure,
    GetInvocationOutputCommand,
    GetPromiseCommand,
    GetStateCommand,
    GetStateKeysCommand,
    HandlerDefinition,
    InvocationDescriptor,
    InvocationDriver,
    JournalEntry,
    Notification,
    PeekPromiseCommand,
    Progress,
    Result,
    SetStateCommand,
    SleepCommand,
    StateKeys,
    Status,
    Value,
    Void,
    is_command,
)

INVOCATION_ID = _ids.invocation_id_for(service="Test", key=None, uuid_part=bytes(range(16)))

Responder = Callable[["FakeRuntime", int, Command], Result | None]
"""Answer command ``index`` (or None: not yet)."""


def json_value(text: str) -> Value:
    """A ``Value`` holding UTF-8 ``text`` (typically JSON)."""
    return Value(text.encode())


@dataclass
class Script:
    """Scripted answers of the fake runtime.

    Attributes:
        calls: ``(service, handler)`` -> result or function of the call command.
        awakeables: Results of awakeables in creation order.
        attach: Results of AttachInvocation/GetInvocationOutput by invocation id.
        sleeps_fire: Whether timers fire (else sleeps never complete).
        withhold: Command indexes never answered.
    """

    calls: dict[tuple[str, str], Result | Callable[[CallCommand], Result]] = field(
        default_factory=dict
    )
    awakeables: list[Result] = field(default_factory=list)
    attach: dict[str, Result] = field(default_factory=dict)
    sleeps_fire: bool = True
    withhold: set[int] = field(default_factory=set)


class FakeRuntime:
    """Runs one invocation of ``handler`` to completion (or until stuck).

    Args:
        handler: The handler definition.
        input: The request body.
        key: Object key / workflow id.
        state: The runtime's state store for the key (eager snapshots come from it).
        promises: The workflow's promise store (name -> result).
        script: Scripted answers.
        responder: Custom answer function (overrides the script).
        always_replay: Drop the driver at every Blocked and replay.
        seed: The random seed.
        topic_check: Handed to every driver (``sdk.kafka.emit`` asks it).
    """

    def __init__(
        self,
        handler: HandlerDefinition,
        *,
        input: bytes = b"",
        key: str | None = None,
        headers: dict[str, str] | None = None,
        state: dict[str, bytes] | None = None,
        promises: dict[str, Result] | None = None,
        script: Script | None = None,
        responder: Responder | None = None,
        always_replay: bool = False,
        seed: int = 7,
        invocation_id: str = INVOCATION_ID,
        clock: Callable[[], float] = lambda: 1_000.0,
        journal: Iterable[JournalEntry] = (),
        topic_check: Callable[[str], str | None] | None = None,
    ) -> None:
        self.handler = handler
        self.topic_check = topic_check
        self.input = input
        self.key = key
        self.headers = headers or {}
        self.state: dict[str, bytes] = dict(state or {})
        self.promises: dict[str, Result] = dict(promises or {})
        self.script = script or Script()
        self.responder = responder
        self.always_replay = always_replay
        self.seed = seed
        self.invocation_id = invocation_id
        self.clock = clock
        self.journal: list[JournalEntry] = list(journal)
        self.driver: InvocationDriver | None = None
        self.attempt = 0
        self.drivers_created = 0
        self.progress_log: list[Progress] = []
        self.inbox: list[Notification] = []
        self.ack_pending = False
        self._awakeables_seen: list[int] = []

    # -- the runtime's side ---------------------------------------------------

    def descriptor(self) -> InvocationDescriptor:
        return InvocationDescriptor(
            invocation_id=self.invocation_id,
            service=self.handler.service_name,
            handler=self.handler.name,
            key=self.key,
            headers=self.headers,
            input=self.input,
            attempt=self.attempt,
            random_seed=self.seed,
            eager_state=dict(self.state) if self.handler.is_keyed else None,
        )

    def new_driver(self) -> InvocationDriver:
        self.attempt += 1
        self.drivers_created += 1
        self.driver = InvocationDriver(
            self.handler,
            self.descriptor(),
            self.journal,
            always_replay=self.always_replay,
            clock=self.clock,
            topic_check=self.topic_check,
        )
        return self.driver

    def drop_driver(self) -> None:
        """Forget the live driver (eviction); the next step replays."""
        self.driver = None
        self.ack_pending = False
        self.journal.extend(self.inbox)
        self.inbox = []

    def notify(self, *notifications: Notification) -> None:
        """Queue notifications (recorded now if no driver is live)."""
        if self.driver is None:
            self.journal.extend(notifications)
        else:
            self.inbox.extend(notifications)

    def cancel(self) -> None:
        """Deliver the cancellation signal."""
        self.notify(CancelSignal())

    async def step(self) -> Progress:
        """One ``advance`` call: persist what it returns."""
        driver = self.driver or self.new_driver()
        notifications, self.inbox = self.inbox, []
        progress = await driver.advance(notifications, durable=self.ack_pending)
        self.ack_pending = False
        self.progress_log.append(progress)
        self.persist(progress.journal_delta)
        assert progress.journal_length == len(self.journal), "journal diverged from the driver"
        assert list(driver.journal) == self.journal, "journal diverged from the driver"
        if driver.finished:
            self.driver = None
        return progress

    def persist(self, entries: Iterable[JournalEntry]) -> None:
        for e in entries:
            self.journal.append(e)
            if isinstance(e, SetStateCommand):
                self.state[e.key] = e.value
            elif isinstance(e, ClearStateCommand):
                self.state.pop(e.key, None)
            elif isinstance(e, ClearAllStateCommand):
                self.state.clear()

    def commands(self) -> list[Command]:
        return [e for e in self.journal if is_command(e)]  # type: ignore[misc]

    def answer(self, index: int, cmd: Command) -> Result | None:
        if index in self.script.withhold:
            return None
        if self.responder is not None:
            return self.responder(self, index, cmd)
        return default_answer(self, index, cmd)

    async def run(self, *, max_steps: int = 200, max_attempts: int = 1) -> Status:
        """Advance until Done, Failed (after ``max_attempts``), or nothing can be answered."""
        self.failures: list[Failed] = []
        for _ in range(max_steps):
            progress = await self.step()
            status = progress.status
            if isinstance(status, Failed):
                self.failures.append(status)
                if len(self.failures) < max_attempts:
                    self.drop_driver()
                    continue
                return status
            if isinstance(status, Done):
                return status
            assert isinstance(status, Blocked)
            answered = self._answer_blocked(status)
            if status.needs_ack and self.driver is not None:
                self.ack_pending = True
            if not answered and not status.needs_ack and not self.inbox:
                return status
        raise AssertionError("too many steps")

    def _answer_blocked(self, status: Blocked) -> bool:
        answered = False
        completed = {e.command_index for e in self.journal if isinstance(e, Completion)}
        completed |= {e.command_index for e in self.inbox if isinstance(e, Completion)}
        commands = self.commands()
        for index in sorted(status.awaiting):
            if index in completed:
                continue
            result = self.answer(index, commands[index])
            if result is not None:
                self.notify(Completion(index, result))
                answered = True
        return answered


def default_answer(rt: FakeRuntime, index: int, cmd: Command) -> Result | None:
    """A plausible runtime: timers fire, calls follow the script, promises use the store."""
    s = rt.script
    if isinstance(cmd, SleepCommand):
        return Void() if s.sleeps_fire else None
    if isinstance(cmd, CallCommand):
        answer = s.calls.get((cmd.service, cmd.handler))
        if answer is None:
            return None
        return answer(cmd) if callable(answer) else answer
    if isinstance(cmd, AwakeableCommand):
        if index not in rt._awakeables_seen:
            rt._awakeables_seen.append(index)
        n = rt._awakeables_seen.index(index)
        return s.awakeables[n] if n < len(s.awakeables) else None
    if isinstance(cmd, GetPromiseCommand):
        return rt.promises.get(cmd.name)
    if isinstance(cmd, PeekPromiseCommand):
        return rt.promises.get(cmd.name, Void())
    if isinstance(cmd, CompletePromiseCommand):
        if cmd.name in rt.promises:
            return Failure(409, "promise was already completed")
        rt.promises[cmd.name] = cmd.result
        return Void()
    if isinstance(cmd, GetStateCommand):
        data = rt.state.get(cmd.key)
        return Value(data) if data is not None else Void()
    if isinstance(cmd, GetStateKeysCommand):
        return StateKeys(sorted(rt.state))
    if isinstance(cmd, AttachInvocationCommand | GetInvocationOutputCommand):
        return s.attach.get(cmd.invocation_id)
    return None


def output_json(status: Status) -> Any:
    """The decoded JSON output of a Done status (raises on anything else)."""
    import json

    assert isinstance(status, Done), status
    assert status.value is not None, status.output
    return json.loads(status.value) if status.value else None
