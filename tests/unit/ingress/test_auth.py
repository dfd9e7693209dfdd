"""Bearer tokens on the ingress and the admin API: who gets in, and the error shapes."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from runtime.admin.app import error_response as admin_error_response
from runtime.dev import DevRuntime
from runtime.ingress.app import IngressApp
from runtime.ingress.auth import exposure_problem, is_loopback, protect, token_digest
from runtime.ingress.errors import ingress_error_response
from runtime.settings import Settings

from .conftest import RecordingBackend

OLD, NEW, ADMIN = "old-ingress-token", "new-ingress-token", "admin-token"
SETTINGS = Settings(
    ingress_tokens_sha256=[token_digest(OLD), token_digest(NEW)],
    admin_tokens_sha256=[token_digest(ADMIN)],
)
JSON = {"content-type": "application/json"}


def _client(app: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://x")  # type: ignore[arg-type]


def _bearer(token: str) -> dict[str, str]:
    return {**JSON, "authorization": f"Bearer {token}"}


async def test_either_of_two_ingress_tokens_opens_the_ingress(
    app: IngressApp, backend: RecordingBackend
) -> None:
    async with _client(protect(app, SETTINGS, "ingress", ingress_error_response)) as c:
        for token in (OLD, NEW):
            r = await c.post("/Greeter/greet", content=b'"a"', headers=_bearer(token))
            assert r.status_code == 200, r.text
        r = await c.post(
            "/Greeter/greet", content=b'"a"', headers={**JSON, "authorization": f"bearer  {NEW}"}
        )
        assert r.status_code == 200  # the scheme is case-insensitive
    assert len(backend.calls) == 3


@pytest.mark.parametrize(
    ("headers", "status", "message"),
    [
        (JSON, 401, "the ingress API needs an 'Authorization: Bearer' header"),
        (
            {**JSON, "authorization": f"Basic {OLD}"},
            401,
            "the ingress API needs an 'Authorization: Bearer' header",
        ),
        (_bearer("guess"), 401, "invalid bearer token"),
        (_bearer(token_digest(OLD)), 401, "invalid bearer token"),  # the digest is no token
        (_bearer(ADMIN), 403, "this token does not open the ingress API"),
    ],
)
async def test_the_ingress_refuses_in_its_own_error_shape(
    app: IngressApp,
    backend: RecordingBackend,
    headers: dict[str, str],
    status: int,
    message: str,
) -> None:
    async with _client(protect(app, SETTINGS, "ingress", ingress_error_response)) as c:
        r = await c.post("/Greeter/greet", content=b'"a"', headers=headers)
    assert r.status_code == status
    assert r.json() == {"code": status, "message": message, "source": "ingress"}
    assert r.headers["x-restate-error-source"] == "ingress"
    assert ("www-authenticate" in r.headers) == (status == 401)
    assert not backend.calls


async def test_health_stays_open(app: IngressApp) -> None:
    async with _client(protect(app, SETTINGS, "ingress", ingress_error_response)) as c:
        assert (await c.get("/restate/health")).status_code == 200


async def test_the_admin_api_takes_only_admin_tokens_in_its_error_shape() -> None:
    async def admin(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
        await admin_error_response(200, "in")(scope, receive, send)  # type: ignore[arg-type]

    async with _client(protect(admin, SETTINGS, "admin", admin_error_response)) as c:
        assert (await c.get("/services", headers=_bearer(ADMIN))).status_code == 200
        r = await c.get("/services", headers=_bearer(NEW))
        assert r.status_code == 403
        assert r.json() == {
            "message": "this token does not open the admin API",
            "restate_code": None,
        }
        r = await c.get("/services")
        assert r.status_code == 401 and r.json()["restate_code"] is None
        assert (await c.get("/health")).status_code == 200


def test_without_tokens_the_apps_are_served_as_they_are(app: IngressApp) -> None:
    assert protect(app, Settings(), "ingress", ingress_error_response) is app


def test_a_reachable_address_without_tokens_is_refused() -> None:
    assert exposure_problem(Settings()) is None  # loopback by default
    why = exposure_problem(Settings(ingress_host="0.0.0.0"))
    assert why is not None and "RT_INGRESS_TOKENS_SHA256" in why
    why = exposure_problem(Settings(admin_host="10.1.2.3", ingress_host="::1"))
    assert why is not None and "RT_ADMIN_TOKENS_SHA256" in why
    assert exposure_problem(Settings(ingress_host="0.0.0.0", allow_unauthenticated=True)) is None
    assert (
        exposure_problem(
            Settings(
                ingress_host="0.0.0.0",
                admin_host="0.0.0.0",
                ingress_tokens_sha256=[token_digest(NEW)],
                admin_tokens_sha256=[token_digest(ADMIN)],
            )
        )
        is None
    )
    assert is_loopback("localhost") and is_loopback("127.0.0.5") and not is_loopback("rt.example")


def test_settings_hold_digests_never_tokens() -> None:
    with pytest.raises(ValidationError, match="hex SHA-256"):
        Settings(ingress_tokens_sha256=["my-plain-token"])
    upper = token_digest(NEW).upper()
    assert Settings(admin_tokens_sha256=[upper]).admin_tokens_sha256 == [token_digest(NEW)]


def test_rt_dev_refuses_to_bind_a_reachable_address_without_tokens(tmp_path: Path) -> None:
    runtime = DevRuntime(Settings(state_dir=tmp_path, admin_host="0.0.0.0", admin_port=0), [])
    with pytest.raises(RuntimeError, match="admin API would listen on 0.0.0.0"):
        runtime.bind_ports()
    assert not runtime._sockets  # nothing bound


def test_tls_needs_a_certificate_and_its_key(tmp_path: Path) -> None:
    from runtime.serving import http_config

    with pytest.raises(ValidationError, match="set together"):
        Settings(tls_certfile=tmp_path / "cert.pem")
    s = Settings(tls_certfile=tmp_path / "cert.pem", tls_keyfile=tmp_path / "key.pem")
    assert s.http_scheme == "https" and Settings().http_scheme == "http"
    config = http_config(s, object())
    assert config.ssl_certfile == str(tmp_path / "cert.pem")
    assert config.ssl_keyfile == str(tmp_path / "key.pem")
    assert http_config(Settings(), object()).ssl_certfile is None
