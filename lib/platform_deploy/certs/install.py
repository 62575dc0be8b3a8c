"""Put a new certificate where nginx reads it, all at once, or not at all.

Each certificate gets its own directory, ``archive/<name>/<version>/`` (fullchain.pem and privkey.pem, 0600,
written and fsynced under a temporary name, then renamed), and ``live/<name>`` becomes a relative symlink to it
in one rename: nginx, which may reload at any time (a deploy, an operator), sees the old pair or the new pair,
never a key without its chain. The link is relative so that it resolves inside platform-nginx too, where the
certificates directory is mounted at another path.
"""

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ..certfiles import ARCHIVE, FULLCHAIN, PRIVKEY, live_dir
from ..errors import PlatformError
from ..fsutil import private_dirs
from ..textutil import utc_timestamp

TEMP_PREFIX = ".tmp-"
KEEP_VERSIONS = 2   # the live one and the one before it


@dataclass(frozen=True)
class Installed:
    name: str
    version: Path
    previous: str | None   # what live/<name> pointed at before (a link target), None when there was nothing


def check_pair(fullchain_pem: bytes, key_pem: bytes) -> None:
    """Refuse a chain or key that nginx would reject: unparsable, or a key that is not the leaf's."""
    try:
        leaf = x509.load_pem_x509_certificates(fullchain_pem)[0]
        key = serialization.load_pem_private_key(key_pem, password=None)
    except ValueError:
        raise PlatformError("the issued certificate or its key is not valid PEM; not installed") from None
    if leaf.public_key().public_bytes(*_SPKI) != key.public_key().public_bytes(*_SPKI):
        raise PlatformError("the issued certificate does not match its private key; not installed")


_SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def refuse_foreign(certs_dir: Path, name: str) -> None:
    """live/<name> as a real directory was made by someone else (certbot): never replace it behind their back."""
    live = live_dir(certs_dir, name)
    if live.is_dir() and not live.is_symlink():
        raise PlatformError(f"{live} is a directory platform-deploy did not make (certbot's?); move it away to let "
                            "platform-deploy manage this certificate")


def install(certs_dir: Path, name: str, fullchain_pem: bytes, key_pem: bytes) -> Installed:
    check_pair(fullchain_pem, key_pem)
    refuse_foreign(certs_dir, name)
    certs_dir = Path(certs_dir)
    # live/ and archive/ are private, as certbot makes them; the certificates directory itself is left as it
    # is (/etc/letsencrypt may hold what other services read).
    certs_dir.mkdir(parents=True, exist_ok=True)
    archive = private_dirs(certs_dir / ARCHIVE, certs_dir / ARCHIVE / name)
    staging = Path(tempfile.mkdtemp(dir=archive, prefix=TEMP_PREFIX))
    try:
        for file_name, data in ((FULLCHAIN, fullchain_pem), (PRIVKEY, key_pem)):
            _write_durably(staging / file_name, data)
        version = archive / utc_timestamp(form="%Y%m%dT%H%M%S%fZ")
        os.rename(staging, version)
        _fsync_dir(archive)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    live = live_dir(certs_dir, name)
    previous = os.readlink(live) if live.is_symlink() else None
    _point(live, os.path.relpath(version, live.parent))
    return Installed(name, version, previous)


def put_back(certs_dir: Path, installed: Installed) -> None:
    """Make live/<name> what it was before ``installed`` (the new version stays in archive/)."""
    live = live_dir(certs_dir, installed.name)
    if installed.previous is None:
        live.unlink(missing_ok=True)
        _fsync_dir(live.parent)
    else:
        _point(live, installed.previous)


def prune(certs_dir: Path, name: str) -> None:
    """Remove old versions and the leftovers of installs that were killed half-way (the caller holds the lock)."""
    archive = Path(certs_dir) / ARCHIVE / name
    live = live_dir(certs_dir, name)
    current = live.resolve() if live.is_symlink() else None
    versions = sorted((p for p in archive.iterdir() if not p.name.startswith(TEMP_PREFIX)), reverse=True) \
        if archive.is_dir() else []
    keep = set(versions[:KEEP_VERSIONS]) | {current}
    for path in archive.glob("*") if archive.is_dir() else ():
        if path not in keep:
            shutil.rmtree(path, ignore_errors=True)


def _point(link: Path, target: str) -> None:
    private_dirs(link.parent, link.parent)
    temp = link.parent / f"{TEMP_PREFIX}{link.name}"
    temp.unlink(missing_ok=True)
    os.symlink(target, temp)
    os.replace(temp, link)   # atomic: readers see the old link or the new one
    _fsync_dir(link.parent)


def _write_durably(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
