"""Errors a handler raises or sees, mirroring ``restate.exceptions``.

- :class:`TerminalError` ends the invocation with a failure and is never
  retried; callers see it with the same ``status_code``/``message``/``metadata``.
- :class:`RetryableError` fails the current attempt and lets the runtime retry,
  optionally after an explicit delay.
- Any other exception is retryable too (the invocation's retry policy applies).
- :class:`SdkInternalBaseException` and its subclasses are the SDK's own control
  flow (suspension, non-determinism). They derive from :class:`BaseException` so
  that a handler's ``except Exception:`` cannot swallow them; test with
  :func:`is_internal_exception`.
"""

from __future__ import annotations

from datetime import timedelta

__all__ = [
    "RetryableError",
    "SdkInternalBaseException",
    "SdkInternalException",
    "SuspendedException",
    "TerminalError",
    "is_internal_exception",
]


class TerminalError(Exception):
    """An error that ends the invocation; the runtime does not retry it.

    Args:
        message: Human readable message, returned to the caller.
        status_code: HTTP-like status code (default 500); the ingress answers
            with it.
        metadata: Optional string map carried with the failure.

    Example:
        >>> raise TerminalError("bad input", status_code=400)  # doctest: +SKIP
    """

    def __init__(
        self, message: str, status_code: int = 500, metadata: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.metadata = metadata

    def __repr__(self) -> str:
        return f"TerminalError({self.message!r}, status_code={self.status_code})"


class RetryableError(Exception):
    """A failure of the current attempt that the runtime retries.

    Args:
        message: Human readable message, recorded as the attempt's failure.
        status_code: Error code recorded with the failure (default 500).
        retry_after: When set, the delay before the next attempt (overrides the
            retry policy's next backoff). Inside ``ctx.run`` with retry options,
            it overrides the delay before the next try of the action.
    """

    def __init__(
        self, message: str, status_code: int = 500, retry_after: timedelta | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.retry_after = retry_after


_INTERNAL_HINT = """
This exception is the SDK's own control flow; do not catch it. If you see it, a
bare ``except:`` or ``except BaseException:`` probably caught it. In handlers catch
``TerminalError`` (or ``Exception``) instead.
"""


class SdkInternalBaseException(BaseException):  # noqa: N818 - name mirrors restate-sdk
    """Base of the SDK's internal control-flow exceptions. Never catch it."""

    def __init__(self, message: str) -> None:
        super().__init__(message + "\n" + _INTERNAL_HINT.strip())
        self.short_message = message


class SdkInternalException(SdkInternalBaseException):
    """An internal control-flow exception of the SDK (restate-sdk's name). Never catch it."""


class SuspendedException(SdkInternalException):
    """Raised into a handler whose attempt is being suspended or torn down."""

    def __init__(self) -> None:
        super().__init__(
            "Invocation got suspended; the runtime resumes it when progress can be made."
        )


class NonDeterminismError(SdkInternalBaseException):
    """Raised at the call site where the handler diverged from its journal (code 570)."""


def is_internal_exception(e: BaseException) -> bool:
    """Tell whether ``e`` is the SDK's internal control flow.

    Use it in a broad ``except BaseException`` to re-raise what is not yours.

    Args:
        e: Any exception.

    Returns:
        True for the SDK's internal exceptions (suspension, non-determinism).

    Example:
        >>> try:
        ...     ...
        ... except BaseException as e:
        ...     if is_internal_exception(e):
        ...         raise
    """
    return isinstance(e, SdkInternalBaseException)
