"""status: what is deployed where, the history of attempts, restorable backups, and deploy metrics."""

from invoke import Exit, task

from .. import certfiles
from ..certs import report as certs_report
from ..errors import PlatformError
from ..fsutil import write_atomic
from ..status import prometheus as prometheus_format
from ..status import show, text
from .common import engine_from, registry_from, settings_from, user_errors, warn


@task(default=True, help={
    "project": "project name from config/projects.yml",
    "env": "environment: staging or production",
    "history": "every kept attempt, newest first, failed and rolled back ones included",
    "rollback": "the backups that can be restored, with the command that restores each",
    "json": "print the same data as JSON",
})
@user_errors
def status(ctx, project, env, history=False, rollback=False, json=False):
    """Show the current deployment, last attempt and live health of a project/environment."""
    if history and rollback:
        raise Exit("error: choose one of --history and --rollback", code=2)
    which = "history" if history else "rollback" if rollback else "current"
    settings = settings_from(ctx)
    shown = show.view(engine_from(settings), settings, registry_from(settings), project, env, which)
    print(show.render(which, shown, as_json=json))


@task(help={"prometheus": "also write the metrics to FILE (*.prom) in Prometheus text format, atomically, "
                          "for node_exporter's textfile collector"})
@user_errors
def metrics(ctx, prometheus=None):
    """Deploy duration (median, p95), success and rollback rates, backups, restores, switches; certificate expiry."""
    settings = settings_from(ctx)
    collected = show.all_metrics(settings, warn=warn)
    now = certfiles.utc_now()
    certificates = _certificates(settings, now)
    print(text.metrics_table(collected))
    if certificates:
        print(f"\n{certs_report.render(certificates, now)}")
    if prometheus:
        if not prometheus.endswith(".prom"):
            warn(f"{prometheus}: node_exporter's textfile collector only reads files ending in .prom")
        write_atomic(prometheus, prometheus_format.render(collected, certificates, now), durable=False)
        print(f"wrote {prometheus}")


def _certificates(settings, now) -> list:
    """Each environment's certificate; none (with a warning) when projects.yml cannot be read: the deploy
    metrics do not depend on it."""
    try:
        wants = certfiles.wanted(registry_from(settings))
    except PlatformError as error:
        warn(f"certificates not shown: {str(error).splitlines()[0]}")
        return []
    return certfiles.survey(settings.certs_dir, wants, now, settings.certs_renew_days)
