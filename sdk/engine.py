"""The SDK's interface to the rt runtime (not for handler authors).

- The journal model: commands, notifications, results, and their msgpack/JSON
  codecs (``NEVER CHANGE`` the tags; see ``docs/decisions/0003``).
- :class:`InvocationDriver`: runs one handler attempt against a journal and
  reports :class:`Progress` (new entries + :class:`Blocked` / :class:`Done` /
  :class:`Failed`).
- The registry types the runtime reads: :class:`App`,
  :class:`HandlerDefinition`, options, :class:`ServiceType`, :class:`HandlerKind`.

Example:
    >>> from sdk.engine import InvocationDescriptor, InvocationDriver
    >>> handler = app.handler("Counter", "add")  # doctest: +SKIP
    >>> driver = InvocationDriver(handler, InvocationDescriptor(
    ...     invocation_id=inv_id, service="Counter", handler="add", key="k",
    ...     input=b"1", random_seed=seed, eager_state={}), journal=[])  # doctest: +SKIP
    >>> progress = await driver.advance()  # doctest: +SKIP
"""

from sdk._app import App
from sdk._definitions import (
    EffectiveOptions,
    HandlerDefinition,
    HandlerKind,
    HandlerOptions,
    ServiceDefinition,
    ServiceOptions,
    ServiceType,
    handler_definition_of,
)
from sdk._engine import (
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
    Failure,
    GetInvocationOutputCommand,
    GetPromiseCommand,
    GetStateCommand,
    GetStateKeysCommand,
    InputCommand,
    JournalEntry,
    Notification,
    OutputCommand,
    PeekPromiseCommand,
    Result,
    RunCommand,
    SendCommand,
    SetStateCommand,
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
    "PROTOCOL_VIOLATION_CODE",
    "App",
    "AttachInvocationCommand",
    "AwakeableCommand",
    "Blocked",
    "CallCommand",
    "CancelInvocationCommand",
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
    "InvocationDriver",
    "JournalEntry",
    "Notification",
    "OutputCommand",
    "PeekPromiseCommand",
    "Progress",
    "Result",
    "RunCommand",
    "SendCommand",
    "ServiceDefinition",
    "ServiceOptions",
    "ServiceType",
    "SetStateCommand",
    "SleepCommand",
    "StateKeys",
    "Status",
    "Value",
    "ValueOrFailure",
    "Void",
    "decode_entry",
    "decode_journal",
    "encode_entry",
    "encode_journal",
    "handler_definition_of",
    "is_command",
    "journal_from_json",
    "journal_to_json",
]
