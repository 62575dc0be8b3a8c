"""TLS certificates on disk and which ones the registry wants (facts, no network, no writes).

The layout is the one nginx reads (nginx/files.has_certificate_in): ``<certs_dir>/live/<name>/fullchain.pem``
and ``privkey.pem``, ``<name>`` being an environment's first domain (a wildcard's ``*.`` dropped), as certbot
names it. platform-deploy keeps each issued certificate in its own directory under ``archive/<name>/`` and
points ``live/<name>`` at it (certs/install.py); readers follow the link and never notice.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import Enum
from pathlib import Path

from .errors import PlatformError

LIVE, ARCHIVE = "live", "archive"
FULLCHAIN, PRIVKEY = "fullchain.pem", "privkey.pem"
WARN_DAYS = 14   # the deploy pre-flight warns when a certificate has fewer days left than this


@dataclass(frozen=True)
class Wanted:
    """One certificate the registry asks for: every domain of one project/environment that HTTP-01 can prove."""
    project: str
    environment: str
    name: str                          # where nginx looks: from the environment's first domain, wildcard or not
    domains: tuple[str, ...]
    wildcards: tuple[str, ...] = ()   # need DNS-01: not covered


@dataclass(frozen=True)
class Certificate:
    """The leaf of ``live/<name>/fullchain.pem``."""
    name: str
    domains: tuple[str, ...]
    not_after: datetime

    def seconds_left(self, now: datetime) -> float:
        return (self.not_after - now).total_seconds()

    def days_left(self, now: datetime) -> int:
        return int(self.seconds_left(now) // 86400)


class State(Enum):
    VALID = "valid"
    DUE = "due"                   # inside the renewal window, or not covering every domain
    EXPIRED = "expired"
    MISSING = "missing"           # served over HTTP only
    UNREADABLE = "unreadable"
    UNSUPPORTED = "unsupported"   # wildcards only: they need DNS-01


@dataclass(frozen=True)
class Observed:
    """What is installed for one wanted certificate, and what that means on ``now``."""
    want: Wanted
    certificate: Certificate | None
    state: State
    detail: str


def survey(certs_dir: Path, wants: list[Wanted], now: datetime, renew_days: float) -> list[Observed]:
    return [_observe(certs_dir, want, now, renew_days) for want in wants]


def _observe(certs_dir: Path, want: Wanted, now: datetime, renew_days: float) -> Observed:
    if not want.domains:
        return Observed(want, None, State.UNSUPPORTED, f"{', '.join(want.wildcards)} need DNS-01")
    try:
        certificate = read(certs_dir, want.name)
    except PlatformError as error:
        return Observed(want, None, State.UNREADABLE, str(error))
    if certificate is None:
        return Observed(want, None, State.MISSING, "served over HTTP only")
    if certificate.seconds_left(now) <= 0:
        return Observed(want, certificate, State.EXPIRED, f"expired {expiry(certificate)}")
    reason = renewal_reason(certificate, want, now, renew_days)
    return Observed(want, certificate, State.DUE if reason else State.VALID, reason or f"until {expiry(certificate)}")


def certificate_name(first_domain: str) -> str:
    return first_domain.removeprefix("*.")


def live_dir(certs_dir: Path, name: str) -> Path:
    return Path(certs_dir) / LIVE / name


def wanted(registry, project: str | None = None, environment: str | None = None) -> list[Wanted]:
    """The certificates of every project/environment, or those of ``project``, or of ``environment``, or both."""
    projects = [registry.project(project)] if project else list(registry.projects)
    found = []
    for entry in projects:
        if project and environment:
            entry.check_environment(environment)
        for env in (e for e in entry.environments if environment in (None, e)):
            domains = entry.domains_for(env)
            found.append(Wanted(entry.name, env, certificate_name(domains[0]),
                                tuple(d for d in domains if not d.startswith("*.")),
                                tuple(d for d in domains if d.startswith("*."))))
    return found


def read(certs_dir: Path, name: str) -> Certificate | None:
    """The installed certificate ``name``; None when there is none. Raises PlatformError when it cannot be read."""
    path = live_dir(certs_dir, name) / FULLCHAIN
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise PlatformError(f"{path}: cannot read: {error.strerror or error}") from None
    from cryptography import x509   # only where there are certificates: status and the pre-flight stay fast

    try:
        leaf = x509.load_pem_x509_certificates(data)[0]
    except ValueError:
        raise PlatformError(f"{path}: not a PEM certificate chain") from None
    return Certificate(name, leaf_domains(leaf), leaf.not_valid_after_utc)


def leaf_domains(leaf) -> tuple[str, ...]:
    from cryptography import x509

    try:
        names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    return tuple(names.get_values_for_type(x509.DNSName))


def renewal_reason(certificate: Certificate | None, want: Wanted, now: datetime, renew_days: float) -> str | None:
    """Why ``want`` needs a (new) certificate now, or None when the installed one will do."""
    if certificate is None:
        return "no certificate"
    missing = [domain for domain in want.domains if domain not in certificate.domains]
    if missing:
        return f"does not cover {', '.join(missing)}"
    if certificate.not_after - now < timedelta(days=renew_days):
        return f"expires {expiry(certificate)} (in {certificate.days_left(now)} days)"
    return None


def expiry(certificate: Certificate) -> str:
    return certificate.not_after.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def utc_now() -> datetime:
    return datetime.now(timezone.utc)
