"""A self-signed certificate per DC for LDAPS and StartTLS (generated once, kept in the lab).

# DIVERGENCE: the key pair comes from the OS's randomness (cryptography's key generation takes
# no seed).  Only the TLS transport depends on it; nothing a scenario records does.
"""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def ensure_certificate(directory: Path, dns_names: list[str], ip: str | None, now: dt.datetime) -> tuple[Path, Path]:
    """(cert.pem, key.pem) in ``directory``, created on first use."""
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "ldaps-cert.pem", directory / "ldaps-key.pem"
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_names[0])])
    alt: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    if ip:
        import ipaddress
        alt.append(x509.IPAddress(ipaddress.ip_address(ip)))
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .sign(key, hashes.SHA256()))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx
