"""HTTPS on the ingress and the admin API of a real node (certificate made in the test)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import Infra
from tests.e2e.conftest import APPS, RtNode


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class TlsNode(RtNode):
    verify: ssl.SSLContext

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.ingress_port}"

    def wait_ready(self, timeout: float = 60) -> None:
        def healthy() -> bool:
            try:
                r = httpx.get(f"{self.url}/restate/health", timeout=1, verify=self.verify)
            except httpx.HTTPError:
                return False
            return r.status_code == 200

        self._until(healthy, timeout, "not ready over https", every=0.1)


def test_the_ingress_and_admin_api_serve_https(
    infra: Infra, prefix: str, tmp_path: Path, nodes: list[RtNode]
) -> None:
    cert, key = _self_signed(tmp_path)
    node = TlsNode(
        infra,
        prefix,
        APPS / "shutdown_app.py",
        tmp_path,
        RT_TLS_CERTFILE=str(cert),
        RT_TLS_KEYFILE=str(key),
    )
    node.verify = ssl.create_default_context(cafile=str(cert))
    nodes.append(node.start())
    r = httpx.post(f"{node.url}/Big/echo", json="over tls", verify=node.verify, timeout=30)
    assert r.status_code == 200 and r.json() == "over tls"
    admin = f"https://127.0.0.1:{node.admin_port}/health"
    assert httpx.get(admin, verify=node.verify, timeout=10).status_code == 200
    info = json.loads((node.state_dir / "dev.json").read_text())
    assert info["ingress_url"].startswith("https://")
    assert info["admin_url"].startswith("https://")
    try:
        plain = httpx.get(f"http://127.0.0.1:{node.ingress_port}/restate/health", timeout=5)
    except httpx.HTTPError:
        plain = None
    assert plain is None or plain.status_code >= 400  # no plain HTTP on a TLS port
