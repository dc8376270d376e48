"""The sandbox's TLS certificate: https requests reach the replicas of real
platforms through the sandbox proxy (CONNECT), and the sandbox answers TLS
inside the tunnel with a self-signed certificate made at start-up (Scrapy
does not verify certificates; evidence capture ignores certificate errors)."""
from __future__ import annotations

import datetime
import os
import ssl
import tempfile


def server_context(hosts=()) -> ssl.SSLContext:
    """A TLS server context whose certificate names ``hosts`` (clients that
    check names then have nothing to warn about; none checks the issuer)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "certwatch sandbox")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in sorted(hosts)]
                                                       or [x509.DNSName("sandbox.invalid")]), critical=False)
            .sign(key, hashes.SHA256()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory(prefix="certwatch-tls-") as folder:
        cert_path, key_path = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
        with open(cert_path, "wb") as fh:
            fh.write(cert.public_bytes(serialization.Encoding.PEM))
        with open(key_path, "wb") as fh:
            fh.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
        context.load_cert_chain(cert_path, key_path)
    return context
