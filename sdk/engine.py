"""The SDK's interface to the rt runtime (not for handler authors).

The runtime enters the SDK here and nowhere else (besides :mod:`sdk.ids`, the id and
routing formats both sides share, and the user-facing modules a composition root loads
apps with); ``tests/unit/test_layers.py`` enforces it (ADR 0016).

- The journal model: commands, notifications, results, and their msgpack/JSON
  codecs (``NEVER CHANGE`` the tags; see ``docs/decisions/0003``).
- :class:`InvocationDriver`: runs one handler attempt against a journal and
  reports :class:`Progress` (new entries + :class:`Blocked` / :class:`Done` /
  :class:`Failed`).
- :meth:`InvocationDriver.run_inline` (ADR 0019): the attempt on the caller's stack,
  for running many short invocations back to back (batched execution). No Task, no
  event-loop turn: the handler's coroutine is stepped directly for as long as every
  await it makes is answered at once -- eager state reads, ``set``/``clear``,
  ``random``/``uuid``/``time``, sends, calls' ids, and ``ctx.run`` actions that finish
  without awaiting real I/O (run right there, sync ones included). It returns the
  :class:`Progress` when the attempt ended (:class:`Done` or :class:`Failed`), or
  None when the handler needs something not available now (a sleep, an awakeable, a
  promise, a call's result, an action awaiting I/O, an asyncio primitive of its own):
  then the coroutine goes on in a Task from where it stopped (started actions too;
  nothing runs twice), and the next :meth:`InvocationDriver.advance` (without
  ``durable``) reports the inline entries followed by its own, as usual. The journal
  is byte for byte the one ``advance`` writes. ``defer_durability=True`` lets the
  handler see ``ctx.run`` results before they are durable so that it can go on past
  them inline; the caller then makes the returned entries durable before anything
  that depends on them leaves the process (one commit for the batch).
- The registry types the runtime reads: :class:`App`,
  :class:`HandlerDefinition`, options, :class:`InvocationRetryPolicy`,
  :class:`ServiceType`, :class:`HandlerKind`.
- :func:`builtin_services`: rt's built-in services (``rt.Kafka``), which every node
  hosts in process next to the user's, so that handlers behind an HTTP endpoint (any
  SDK) can reach rt-only features (ADR 0021).
- :func:`acknowledge_lifespan`: the ASGI lifespan of an app with nothing to start or
  stop (the SDK's endpoint app and the runtime's ingress share it).

Example:
    >>> from sdk.engine import InvocationDescriptor, InvocationDriver
    >>> handler = app.handler("Counter", "add")  # doctest: +SKIP
    >>> driver = InvocationDriver(handler, InvocationDescriptor(
    ...     invocation_id=inv_id, service="Counter", handler="add", key="k",
    ...     input=b"1", random_seed=seed, eager_state={}), journal=[])  # doctest: +SKIP
    >>> progress = await driver.advance()  # doctest: +SKIP

    Inline, from code running on the event loop:

    >>> progress = driver.run_inline(defer_durability=True)  # doctest: +SKIP
    >>> if progress is None:  # blocked: it goes on as a normal live attempt
    ...     progress = await driver.advance()  # doctest: +SKIP
"""

from sdk._app import App, acknowledge_lifespan
from sdk._builtin_services import builtin_services
from sdk._definitions import (
    EffectiveOptions,
    HandlerDefinition,
    HandlerKind,
    HandlerOptions,
    InvocationRetryPolicy,
    ServiceDefinition,
    ServiceOptions,
    ServiceType,
    handler_definition_of,
)
from sdk._engine import (
    SIGNAL_WAKE,
    Blocked,
    Done,
    DriverClosedError,
    Failed,
    InvocationDescriptor,
    InvocationDriver,
    Progress,
    Status,
)
from sdk._journal import (
    COMMAND_TYPES,
    COMPLETABLE,
    NOTIFICATION_TYPES,
    AttachInvocationCommand,
    AwakeableCommand,
    CallCommand,
    CancelInvocationCommand,
    CancelSignal,
    ClearAllStateCommand,
    ClearStateCommand,
    Command,
    CompleteAwakeableCommand,
    CompletePromiseCommand,
    Completion,
    EmitCommand,
    Failure,
    GetInvocationOutputCommand,
    GetPromiseCommand,
    GetStateCommand,
    GetStateKeysCommand,
    InputCommand,
    JournalEntry,
    NamedSignal,
    Notification,
    OutputCommand,
    PeekPromiseCommand,
    Result,
    RunCommand,
    SendCommand,
    SendSignalCommand,
    SetStateCommand,
    SignalCommand,
    SleepCommand,
    StateKeys,
    Value,
    ValueOrFailure,
    Void,
    decode_entry,
    decode_journal,
    encode_entry,
    encode_journal,
    is_command,
    journal_from_json,
    journal_to_json,
)
from sdk._machine import NON_DETERMINISM_CODE, PROTOCOL_VIOLATION_CODE

__all__ = [
    "COMMAND_TYPES",
    "COMPLETABLE",
    "NON_DETERMINISM_CODE",
    "NOTIFICATION_TYPES",
    "PROTOCOL_VIOLATION_CODE",
    "SIGNAL_WAKE",
    "App",
    "AttachInvocationCommand",
    "AwakeableCommand",
    "Blocked",
    "CallCommand",
    "CancelInvocationCommand",
    "EmitCommand",
    "CancelSignal",
    "ClearAllStateCommand",
    "ClearStateCommand",
    "Command",
    "CompleteAwakeableCommand",
    "CompletePromiseCommand",
    "Completion",
    "Done",
    "DriverClosedError",
    "EffectiveOptions",
    "Failed",
    "Failure",
    "GetInvocationOutputCommand",
    "GetPromiseCommand",
    "GetStateCommand",
    "GetStateKeysCommand",
    "HandlerDefinition",
    "HandlerKind",
    "HandlerOptions",
    "InputCommand",
    "InvocationDescriptor",
    "InvocationRetryPolicy",
    "InvocationDriver",
    "JournalEntry",
    "NamedSignal",
    "Notification",
    "OutputCommand",
    "PeekPromiseCommand",
    "Progress",
    "Result",
    "RunCommand",
    "SendCommand",
    "SendSignalCommand",
    "ServiceDefinition",
    "ServiceOptions",
    "ServiceType",
    "SetStateCommand",
    "SignalCommand",
    "SleepCommand",
    "StateKeys",
    "Status",
    "Value",
    "ValueOrFailure",
    "Void",
    "acknowledge_lifespan",
    "builtin_services",
    "decode_entry",
    "decode_journal",
    "encode_entry",
    "encode_journal",
    "handler_definition_of",
    "is_command",
    "journal_from_json",
    "journal_to_json",
]
