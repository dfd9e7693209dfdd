"""rt's SDK: durable handlers with the API of Restate's Python SDK (``restate-sdk``).

A file written for restate-sdk runs on rt with ``import restate`` changed to
``import sdk as restate``.

Example:
    >>> import sdk as restate
    >>> greeter = restate.Service("Greeter")
    >>> @greeter.handler()
    ... async def greet(ctx: restate.Context, name: str) -> str:
    ...     return f"Hello {name}"
    >>> app = restate.app([greeter])

The runtime's side of the SDK (journal, replay driver) is :mod:`sdk.engine`.
"""

from sdk._app import app
from sdk._definitions import InvocationRetryPolicy, Service, VirtualObject, Workflow
from sdk._futures import as_completed, gather, select, wait_completed
from sdk._logging import getLogger
from sdk.context import (
    Context,
    DurablePromise,
    ObjectContext,
    ObjectSharedContext,
    RestateDurableCallFuture,
    RestateDurableFuture,
    RestateDurableSleepFuture,
    RunOptions,
    SendHandle,
    WorkflowContext,
    WorkflowSharedContext,
)
from sdk.exceptions import SdkInternalBaseException, TerminalError, is_internal_exception

__all__ = [
    "Service",
    "VirtualObject",
    "Workflow",
    "Context",
    "ObjectContext",
    "ObjectSharedContext",
    "WorkflowContext",
    "WorkflowSharedContext",
    "DurablePromise",
    "RestateDurableFuture",
    "RestateDurableCallFuture",
    "RestateDurableSleepFuture",
    "SendHandle",
    "RunOptions",
    "TerminalError",
    "InvocationRetryPolicy",
    "app",
    "gather",
    "as_completed",
    "wait_completed",
    "select",
    "getLogger",
    "SdkInternalBaseException",
    "is_internal_exception",
]
