"""The ACME conversation (RFC 8555), through certbot's own protocol library ``acme``: the only module that
imports ``acme`` or ``josepy``.

Why the library rather than the certbot program: platform-nginx's webroot is a Docker volume, which certbot's
webroot plugin cannot write to from the host (the answers go in through the engine: challenge.py); only the
engine and git run programs here (docs/ARCHITECTURE.md); and certbot swaps live/ files one symlink at a time,
where install.py swaps the key and its chain together. ``acme`` is maintained with certbot by the EFF, follows
Let's Encrypt's changes, and is packaged by Debian (python3-acme).
"""

import contextlib
import datetime
import re
from dataclasses import dataclass
from pathlib import Path

import josepy as jose
from acme import challenges, client, crypto_util, errors, messages
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ..errors import PlatformError
from ..fsutil import private_dirs, write_atomic
from ..textutil import one_line

KEY_BITS = 2048
POLL_SECONDS = 90          # how long authorizations and the order may stay pending
REQUEST_SECONDS = 30       # one HTTP request to the ACME server
USER_AGENT = "platform-deploy"
# requests wraps the reason in a long repr: "... a new connection: [Errno 111] Connection refused'))"
_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")


class AcmeFailed(PlatformError):
    """The ACME server did not issue: unreachable, refused (rate limit, policy) or a challenge failed."""


@dataclass(frozen=True)
class Issued:
    fullchain_pem: bytes
    key_pem: bytes


def new_key_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def account_key(path: Path, top: Path) -> jose.JWKRSA:
    """The account key at ``path`` (made on first use, 0600 in 0700 directories from ``top`` down)."""
    if not path.exists():
        Path(top).parent.mkdir(parents=True, exist_ok=True)
        private_dirs(top, path.parent)
        write_atomic(path, new_key_pem(), mode=0o600)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as error:
        raise PlatformError(f"{path}: not a readable private key ({type(error).__name__}); move it away to "
                            "register a new ACME account") from None
    return jose.JWKRSA(key=key)


def obtain(settings, domains: tuple[str, ...], key: jose.JWKRSA, publish, withdraw) -> Issued:
    """A certificate for ``domains`` from the configured ACME server. ``publish(token, text)`` makes
    http://<domain>/.well-known/acme-challenge/<token> answer ``text``; ``withdraw(token)`` undoes it."""
    url = settings.acme_directory_url
    key_pem = new_key_pem()
    try:
        acme = _client(settings, url, key)
        order = acme.new_order(crypto_util.make_csr(key_pem, list(domains)))
        answered = []
        try:
            for authorization in order.authorizations:
                if authorization.body.status != messages.STATUS_VALID:   # a valid one is reused as it is
                    answered.append(_answer(acme, authorization, publish))
            deadline = datetime.datetime.now() + datetime.timedelta(seconds=POLL_SECONDS)
            order = acme.poll_and_finalize(order, deadline)
        finally:
            for token in answered:
                with contextlib.suppress(PlatformError):   # a stale answer is harmless; a lost certificate is not
                    withdraw(token)
    except errors.ValidationError as error:
        raise AcmeFailed(validation_reason(error)) from None
    except messages.Error as error:
        raise AcmeFailed(problem_reason(error)) from None
    except errors.TimeoutError:
        raise AcmeFailed(f"the ACME server did not finish within {POLL_SECONDS} s; try again later") from None
    except errors.Error as error:
        raise AcmeFailed(f"ACME: {one_line(str(error) or type(error).__name__, 300)}") from None
    except OSError as error:   # requests' errors (refused, TLS, timeout) are OSErrors
        raise AcmeFailed(f"ACME server {url} unreachable: {network_reason(error)}") from None
    return Issued(order.fullchain_pem.encode("ascii"), key_pem)


def check_settings(settings) -> None:
    """Refuse, in one line naming the setting, what would make every order fail."""
    settings.acme_directory_url   # raises ConfigError naming the setting
    bundle = settings.acme_ca_bundle
    if bundle and not bundle.is_file():
        raise PlatformError(f"setting acme_ca_bundle (PLATFORM_ACME_CA_BUNDLE): {bundle} is not a file")


def _client(settings, url: str, key: jose.JWKRSA) -> client.ClientV2:
    check_settings(settings)
    bundle = settings.acme_ca_bundle
    verify = str(bundle) if bundle else True
    network = client.ClientNetwork(key, verify_ssl=verify, user_agent=USER_AGENT, timeout=REQUEST_SECONDS)
    acme = client.ClientV2(client.ClientV2.get_directory(url, network), network)
    registration = messages.NewRegistration.from_data(email=settings.acme_email or None,
                                                      terms_of_service_agreed=True)
    try:
        acme.new_account(registration)
    except errors.ConflictError as known:   # this key has an account already: use it
        network.account = messages.RegistrationResource(uri=known.location, body=messages.Registration())
    return acme


def _answer(acme, authorization, publish) -> str:
    domain = authorization.body.identifier.value
    offered = [body for body in authorization.body.challenges if isinstance(body.chall, challenges.HTTP01)]
    if not offered:
        raise AcmeFailed(f"the ACME server offers no HTTP-01 challenge for {domain}")
    response, validation = offered[0].response_and_validation(acme.net.key)
    token = offered[0].chall.encode("token")
    publish(token, validation)
    acme.answer_challenge(offered[0], response)
    return token


def validation_reason(error: errors.ValidationError) -> str:
    """One line naming each domain whose challenge failed and the ACME server's reason."""
    failed = []
    for authorization in error.failed_authzrs:
        reasons = [challenge.error.detail or challenge.error.typ for challenge in authorization.body.challenges
                   if challenge.error is not None]
        failed.append(f"{authorization.body.identifier.value}: {'; '.join(reasons) or 'invalid'}")
    return one_line(f"HTTP-01 challenge failed for {', '.join(failed)} (does the domain point at this server, "
                    "and does platform-nginx answer on port 80?)", 400)


def problem_reason(problem: messages.Error) -> str:
    detail = one_line(problem.detail or problem.description or problem.typ, 250)
    if problem.code == "rateLimited":
        return f"rate limited by the ACME server: {detail}; try again after the limit resets"
    return f"the ACME server refused: {detail}"


def network_reason(error: OSError) -> str:
    text = str(error)
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return "its TLS certificate is not trusted (for a private or test ACME server, set PLATFORM_ACME_CA_BUNDLE)"
    found = _ERRNO.search(text)
    if found:
        return found.group(1).strip()
    return "timed out" if "timed out" in text.lower() else one_line(text, 200)
