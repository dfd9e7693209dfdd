"""Bearer tokens on a real node: the ingress and the admin API each take their own."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx

from runtime.ingress.auth import token_digest
from tests.conftest import Infra
from tests.e2e.conftest import APPS, RtNode

INGRESS, ADMIN = "ingress-secret", "admin-secret"


def test_tokens_open_their_own_api_only(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode]
) -> None:
    node = RtNode(
        infra,
        prefix,
        APPS / "shutdown_app.py",
        tmp_path,
        RT_INGRESS_TOKENS_SHA256=json.dumps([token_digest("old"), token_digest(INGRESS)]),
        RT_ADMIN_TOKENS_SHA256=json.dumps([token_digest(ADMIN)]),
    )
    nodes.append(node.start())  # the health check it waits on needs no token
    call = f"{node.url}/Big/echo"
    r = httpx.post(call, json="hi", timeout=30)
    assert r.status_code == 401 and r.json()["source"] == "ingress"
    assert r.headers["www-authenticate"].startswith("Bearer")
    ok = httpx.post(call, json="hi", headers={"authorization": f"Bearer {INGRESS}"}, timeout=30)
    assert ok.status_code == 200 and ok.json() == "hi"
    wrong = httpx.post(call, json="hi", headers={"authorization": f"Bearer {ADMIN}"}, timeout=30)
    assert wrong.status_code == 403

    services = f"{node.admin_url}/services"
    assert httpx.get(services, timeout=10).status_code == 401
    r = httpx.get(services, headers={"authorization": f"Bearer {INGRESS}"}, timeout=10)
    assert r.status_code == 403 and r.json()["restate_code"] is None
    r = httpx.get(services, headers={"authorization": f"Bearer {ADMIN}"}, timeout=10)
    assert r.status_code == 200 and "Big" in r.text

    # The CLI sends RT_ADMIN_TOKEN; without it, or with the ingress's, it says what to set.
    def rt(*args: str, token: str | None) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in node.env.items() if k != "RT_ADMIN_TOKEN"}
        if token is not None:
            env["RT_ADMIN_TOKEN"] = token
        cmd = [sys.executable, "-m", "runtime.cli", *args, "--admin-url", node.admin_url]
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)

    ls = rt("services", "ls", "--json", token=ADMIN)
    assert ls.returncode == 0 and "Big" in ls.stdout
    missing = rt("services", "ls", token=None)
    assert missing.returncode == 4 and "set RT_ADMIN_TOKEN" in missing.stderr
    other = rt("services", "ls", token=INGRESS)
    assert other.returncode == 4 and "not an admin API token" in other.stderr


def test_a_node_on_a_reachable_address_without_tokens_refuses_to_start(
    infra: Infra, prefix: str, tmp_path: Path
) -> None:
    node = RtNode(infra, prefix, APPS / "shutdown_app.py", tmp_path, RT_INGRESS_HOST="0.0.0.0")
    proc = subprocess.run(node.args, env=node.env, capture_output=True, timeout=60)
    assert proc.returncode != 0
    out = (proc.stdout + proc.stderr).decode()
    assert "RT_INGRESS_TOKENS_SHA256" in out and "0.0.0.0" in out
