"""certs: TLS certificates for every domain of config/projects.yml, issued and renewed by ACME HTTP-01."""

import os
import sys
from dataclasses import fields
from pathlib import Path

from invoke import Exit, task

from .. import certfiles
from ..settings import REPO_ROOT, Settings
from .common import engine_from, registry_from, settings_from, user_errors

# The ACME library and the engine are imported inside the tasks that use them: every invoke command loads
# this module and must stay fast.


def _obtain(ctx, project, env, force, renew_only) -> list:
    from ..certs import run

    settings = settings_from(ctx)
    registry = registry_from(settings)
    decisions = run.decide(settings, certfiles.wanted(registry, project, env), certfiles.utc_now(),
                           force=force, renew_only=renew_only)
    return run.run(engine_from(settings), settings, registry, decisions)   # connects only when it orders


def _report(outcomes, quiet: bool) -> None:
    from ..certs.run import Result

    for outcome in outcomes:
        if outcome.result is Result.FAILED:
            print(f"error: {outcome.line}", file=sys.stderr)
        elif not quiet or outcome.result is Result.ISSUED:
            print(outcome.line)
    failed = sum(outcome.result is Result.FAILED for outcome in outcomes)
    if failed:
        raise Exit(f"{failed} of {len(outcomes)} certificate(s) failed; the others are unaffected", code=1)


@task(help={
    "project": "only this project (default: every project in config/projects.yml)",
    "env": "only this environment (staging or production)",
    "force": "order a new certificate even where the installed one is valid",
})
@user_errors
def issue(ctx, project=None, env=None, force=False):
    """Obtain a certificate for each project/environment that has none (or whose one is due), serve it over HTTPS."""
    _report(_obtain(ctx, project, env, force, renew_only=False), quiet=False)


@task(help={"force": "renew every installed certificate, due or not"})
@user_errors
def renew(ctx, force=False):
    """Renew the certificates that are due (quiet when none is: for cron and the systemd timer)."""
    _report(_obtain(ctx, None, None, force, renew_only=True), quiet=True)


@task(default=True, help={"json": "print the same data as JSON"})
@user_errors
def status(ctx, json=False):
    """Each environment's certificate: state (valid, due, expired, missing), expiry, days left."""
    from ..certs import report

    settings = settings_from(ctx)
    now = certfiles.utc_now()
    wants = certfiles.wanted(registry_from(settings))
    print(report.render(certfiles.survey(settings.certs_dir, wants, now, settings.certs_renew_days), now, json))


@task(help={"directory": "where to write the unit files (default /etc/systemd/system)"})
@user_errors
def install_timer(ctx, directory="/etc/systemd/system"):
    """Write a systemd service and timer that run `invoke certs.renew` twice a day; print how to enable them."""
    from ..certs import timer

    # The settings' variables only (paths and names): PLATFORM_WEBHOOK_URL, say, holds a token and the unit
    # file is world-readable.
    known = {f"PLATFORM_{field.name.upper()}" for field in fields(Settings)}
    environment = {name: value for name, value in os.environ.items() if name in known}
    texts = timer.units(Path(sys.executable).parent / "invoke", REPO_ROOT, environment)
    for path in timer.write(Path(directory), texts):
        print(f"wrote {path}")
    print(f"enable it: systemctl daemon-reload && systemctl enable --now {timer.UNIT}.timer")
