"""A test certificate authority and a certificate for 127.0.0.1, and a trust store in which
the released `vos` client (through `requests`, which trusts `certifi`'s bundle) finds it: what
a user's machine has when the platform's certificate comes from a CA it trusts."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class TestTls:
    cert: Path
    key: Path
    ca: Path
    trust: Path
    """Put first on PYTHONPATH: a `certifi` whose bundle is the test CA."""


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def make_tls(directory: Path) -> TestTls:
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("Arcade test CA"))
        .issuer_name(_name("Arcade test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    pem = serialization.Encoding.PEM
    out = TestTls(
        directory / "cert.pem", directory / "key.pem", directory / "ca.pem", directory / "trust"
    )
    out.cert.write_bytes(cert.public_bytes(pem) + ca.public_bytes(pem))
    out.key.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    out.key.chmod(0o600)
    out.ca.write_bytes(ca.public_bytes(pem))
    (out.trust / "certifi").mkdir(parents=True)
    (out.trust / "certifi" / "__init__.py").write_text(
        f"def where():\n    return {str(out.ca)!r}\n\n\ndef contents():\n"
        f"    return open(where()).read()\n"
    )
    return out
