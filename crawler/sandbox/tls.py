"""The sandbox's https: a self-signed certificate made when the sandbox
starts (never shipped, never trusted anywhere else), and the TLS context
the server wraps CONNECT tunnels in. Clients reach it only through the
sandbox proxy: Scrapy does not verify certificates, and Chromium is told to
ignore certificate errors in sandbox mode only."""
from __future__ import annotations

import datetime
import os
import ssl
import tempfile

ORGANISATION = "certwatch sandbox (simulated internet, self-signed)"


def _write(path: str, data: bytes) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def make_certificate(hosts: list[str], folder: str) -> tuple[str, str]:
    """A certificate for ``hosts`` (and their www. names) with a new EC key,
    written to ``folder``; returns (certificate path, key path)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "certwatch sandbox"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANISATION)])
    names: list[str] = []
    for host in hosts:
        for h in (host, host if host.startswith("www.") else f"www.{host}"):
            if h and h not in names:
                names.append(h)
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in names]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = os.path.join(folder, "sandbox-cert.pem"), os.path.join(folder, "sandbox-key.pem")
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    _write(key_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return cert_path, key_path


def server_context(hosts: list[str]) -> ssl.SSLContext:
    """A TLS server context with a fresh self-signed certificate for ``hosts``
    (the files live in a temporary folder only while they are loaded)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory(prefix="certwatch-sandbox-tls-") as folder:
        ctx.load_cert_chain(*make_certificate(hosts, folder))
    return ctx
