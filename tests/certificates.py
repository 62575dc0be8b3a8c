"""Certificates made on the spot for tests: a throw-away CA and a leaf it signs (no network)."""

import datetime
import ipaddress

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

PEM = serialization.Encoding.PEM


def key_pem(key) -> bytes:
    return key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def authority_and_leaf(domains, days_left: float, now=None, addresses=(), leaf_key=None) -> tuple[bytes, bytes, bytes]:
    """(CA PEM, leaf PEM, leaf key PEM): a leaf for ``domains`` and IP ``addresses``, expiring ``days_left``
    days from ``now``, with ``leaf_key`` (default: a new P-256 key)."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), leaf_key or ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    not_after = now + datetime.timedelta(days=days_left)
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=90))
          .not_valid_after(now + datetime.timedelta(days=3650))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(ca_key, hashes.SHA256()))
    names = [x509.DNSName(d) for d in domains] + [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
    leaf = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domains[0])]))
            .issuer_name(ca_name).public_key(leaf_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(min(now, not_after) - datetime.timedelta(days=1)).not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return ca.public_bytes(PEM), leaf.public_bytes(PEM), key_pem(leaf_key)


def issue(domains, days_left: float, now=None, leaf_key=None) -> tuple[bytes, bytes]:
    """(fullchain PEM, key PEM) for ``domains``, expiring ``days_left`` days from ``now``."""
    ca, leaf, key = authority_and_leaf(domains, days_left, now, leaf_key=leaf_key)
    return leaf + ca, key
