"""Which certificates are due, then for each: order it, install it, regenerate the project's nginx config with
TLS, validate, reload. A failure leaves that project as it was (its HTTP-only config, or its previous
certificate) and is one line; the other certificates go ahead."""

from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path
from urllib.parse import urlsplit

from .. import certfiles
from ..certfiles import State, Wanted
from ..errors import PlatformError
from ..nginx import files, live
from ..state.lock import DeployLock
from ..textutil import one_line
from . import challenge, client, install


OWN = "platform-deploy"   # under the certificates directory: what only this tool uses (the ACME account)


class Result(Enum):
    ISSUED = "issued"
    VALID = "valid"       # nothing to do
    SKIPPED = "skipped"   # not ours to do
    FAILED = "failed"


@dataclass(frozen=True)
class Outcome:
    want: Wanted
    result: Result
    detail: str     # one line

    @property
    def line(self) -> str:
        return f"{self.want.project}/{self.want.environment} {self.want.name}: {self.result.value}: {self.detail}"


@dataclass(frozen=True)
class Decision:
    want: Wanted
    result: Result | None   # None: order a certificate now; else the Outcome's (VALID, SKIPPED)
    detail: str             # why


def decide(settings, wants: list[Wanted], now: datetime, *, force: bool, renew_only: bool) -> list[Decision]:
    """Facts to decisions, no network: ``renew_only`` leaves environments without a certificate alone."""
    observed = certfiles.survey(settings.certs_dir, wants, now, settings.certs_renew_days)
    return [_decide(seen, now, force, renew_only) for seen in observed]


def _decide(seen: certfiles.Observed, now: datetime, force: bool, renew_only: bool) -> Decision:
    if seen.state is State.UNSUPPORTED:
        return Decision(seen.want, Result.SKIPPED, f"{seen.detail}, which is not supported")
    if seen.state is State.MISSING:
        if renew_only:
            return Decision(seen.want, Result.SKIPPED, "no certificate yet (invoke certs.issue)")
        return Decision(seen.want, None, "no certificate")
    if seen.state is State.VALID and not force:
        return Decision(seen.want, Result.VALID, f"{seen.detail}, {seen.certificate.days_left(now)} days left")
    return Decision(seen.want, None, "forced" if seen.state is State.VALID else seen.detail)


def run(engine, settings, registry, decisions: list[Decision]) -> list[Outcome]:
    """Carry the decisions out; a bad ACME setting stops everything before the first order (PlatformError)."""
    if any(decision.result is None for decision in decisions):
        client.check_settings(settings)
    outcomes = []
    for decision in decisions:
        if decision.result is not None:
            outcomes.append(Outcome(decision.want, decision.result, decision.detail))
            continue
        try:
            served = obtain_and_serve(engine, settings, registry, decision.want, decision.detail)
            outcomes.append(Outcome(decision.want, Result.ISSUED, served))
        except PlatformError as error:
            outcomes.append(Outcome(decision.want, Result.FAILED, one_line(str(error), 500)))
    return outcomes


def obtain_and_serve(engine, settings, registry, want: Wanted, reason: str) -> str:
    certs_dir = settings.certs_dir
    with DeployLock(settings, want.project, want.environment):
        install.refuse_foreign(certs_dir, want.name)   # before the order: rate limits are precious
        key = client.account_key(account_key_path(settings), certs_dir / OWN)
        issued = client.obtain(settings, want.domains, key,
                               publish=lambda token, text: challenge.publish(engine, settings, token, text),
                               withdraw=lambda token: challenge.withdraw(engine, settings, token))
        installed = install.install(certs_dir, want.name, issued.fullchain_pem, issued.key_pem)
        try:
            live.generate_and_reload(engine, settings, registry, only=want.project)
        except PlatformError as error:
            install.put_back(certs_dir, installed)
            raise PlatformError(f"{error}; the new certificate is not in use (kept in {installed.version})"
                                f"{_match_config(settings, registry, want.project)}") from None
        install.prune(certs_dir, want.name)
    current = certfiles.read(certs_dir, want.name)
    return f"{reason}; now valid until {certfiles.expiry(current)}, served over HTTPS"


def _match_config(settings, registry, project: str) -> str:
    """Render the project's config again for the certificate put back: when nginx accepted the new config
    but could not reload, conf.d must not go on naming a certificate that is gone (the next reload would
    fail). Returns what to add to the error when even that fails."""
    try:
        files.apply(settings, files.plan(settings, registry, only=project))
    except (PlatformError, OSError) as error:
        return f"; {settings.relative(settings.conf_dir)} not regenerated: {error}"
    return ""


def account_key_path(settings) -> Path:
    """One ACME account per server (Let's Encrypt's production and staging know different accounts)."""
    server = urlsplit(settings.acme_directory_url).netloc.replace(":", "_")
    return Path(settings.certs_dir) / OWN / "accounts" / server / "account-key.pem"
