"""Bearer-token authentication of rt's HTTP APIs (the ingress, and the admin API).

Settings hold the SHA-256 digests (hex) of the accepted tokens, never the tokens, so a
leaked config file does not leak a credential. Each API has its own list: an ingress
token opens the ingress only, an admin token the admin API only (presented to the other
API it is a 403, a token nobody issued a 401). A list holds two digests while a token is
rotated: issue the new token, add its digest, move the clients, drop the old digest.

The check is an ASGI wrapper (:class:`BearerAuth`) around either app, so neither app
knows about it; the composition roots wrap what they serve (:func:`protect`). Digests are
compared with :func:`hmac.compare_digest`, each one, so the time taken does not tell how
much of a guess matched, nor which token did. Imports nothing of rt but the settings.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Callable, Sequence

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from runtime.settings import Settings

Respond = Callable[[int, str, dict[str, str]], Response]
"""Renders an auth error in the API's own error shape: (status, message, headers)."""

OPEN_PATHS = {"ingress": frozenset({"/restate/health"}), "admin": frozenset({"/health"})}
"""Health checks stay open: orchestrators and load balancers probe them without tokens."""


def token_digest(token: str) -> str:
    """The hex SHA-256 of ``token``, as the settings hold it.

    Example:
        >>> token_digest("s3cret")[:16]
        '1ec1c26b50d5d3c5'
    """
    return hashlib.sha256(token.encode()).hexdigest()


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (``127.0.0.0/8``, ``::1``, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


def exposure_problem(settings: Settings) -> str | None:
    """Why serving with ``settings`` is refused, or None.

    An API bound to an address other machines can reach needs tokens, unless
    ``allow_unauthenticated`` says otherwise on purpose.
    """
    if settings.allow_unauthenticated:
        return None
    for api, host, digests, var in (
        ("ingress", settings.ingress_host, settings.ingress_tokens_sha256, "INGRESS"),
        ("admin API", settings.admin_host, settings.admin_tokens_sha256, "ADMIN"),
    ):
        if not digests and not is_loopback(host):
            return (
                f"the {api} would listen on {host}, reachable from other machines, without "
                f"authentication: set RT_{var}_TOKENS_SHA256 to the SHA-256 of a bearer "
                "token (docs/production.md), or RT_ALLOW_UNAUTHENTICATED=1 if something in "
                "front of rt authenticates"
            )
    return None


class BearerAuth:
    """Lets a request through to ``app`` only with ``Authorization: Bearer <token>``
    whose digest is one of ``accepted``.

    Args:
        app: The ASGI app it protects.
        api: ``ingress`` or ``admin``: names the API in messages and picks its open paths.
        accepted: Hex SHA-256 digests of the tokens that open this API.
        other: Digests of the other API's tokens: presented here, they are a 403.
        respond: Renders an error in the API's shape.
    """

    def __init__(
        self,
        app: ASGIApp,
        api: str,
        accepted: Sequence[str],
        other: Sequence[str],
        respond: Respond,
    ) -> None:
        self._app = app
        self._api = api
        self._accepted = [bytes.fromhex(d) for d in accepted]
        self._other = [bytes.fromhex(d) for d in other]
        self._respond = respond
        self._open = OPEN_PATHS.get(api, frozenset())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" or scope.get("path") in self._open:
            await self._app(scope, receive, send)
            return
        token = _bearer_token(scope)
        if token is None:
            status, message = 401, f"the {self._api} API needs an 'Authorization: Bearer' header"
        else:
            digest = hashlib.sha256(token).digest()
            if _matches(digest, self._accepted):
                await self._app(scope, receive, send)
                return
            if _matches(digest, self._other):
                status, message = 403, f"this token does not open the {self._api} API"
            else:
                status, message = 401, "invalid bearer token"
        headers = {"WWW-Authenticate": 'Bearer realm="rt"'} if status == 401 else {}
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await self._respond(status, message, headers)(scope, receive, send)


def _matches(digest: bytes, digests: list[bytes]) -> bool:
    """Compares with every digest, matched or not, in constant time each."""
    found = False
    for d in digests:
        found |= hmac.compare_digest(digest, d)
    return found


def _bearer_token(scope: Scope) -> bytes | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.partition(b" ")
            token = token.strip()
            return token if scheme.lower() == b"bearer" and token else None
    return None


def protect(app: ASGIApp, settings: Settings, api: str, respond: Respond) -> ASGIApp:
    """``app`` behind :class:`BearerAuth` when ``api`` has tokens configured, else ``app``.

    Args:
        app: The ingress or admin app.
        settings: Holds both APIs' token digests.
        api: ``ingress`` or ``admin``.
        respond: Renders errors in that API's shape.
    """
    own, other = settings.ingress_tokens_sha256, settings.admin_tokens_sha256
    if api == "admin":
        own, other = other, own
    if not own:
        return app
    return BearerAuth(app, api, own, other, respond)
