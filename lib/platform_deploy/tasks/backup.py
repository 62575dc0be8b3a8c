"""backup: create, list, verify, restore and prune the backups of a project/environment."""

from invoke import Exit, task

from .common import deployment_class, engine_from, registry_from, settings_from, user_errors

# The backup library (and through it the Docker SDK) is imported inside each task:
# every invoke command loads this module and must stay fast.

PROJECT = "project name from config/projects.yml"
ENV = "environment (staging or production)"


@task(help={"project": PROJECT, "env": ENV})
@user_errors
def create(ctx, project, env):
    """Back up volumes, database, config and images of what runs now."""
    from ..backup import commands
    from ..report import console_report

    settings = settings_from(ctx)
    report = console_report()
    report.started("backup", f"{project}/{env}")
    try:
        meta = commands.create(engine_from(settings), settings, registry_from(settings), project, env,
                               progress=report.transferred)
    finally:
        report.clear()
    print(commands.describe_created(settings, meta))


@task(name="list", help={"project": PROJECT, "env": ENV})
@user_errors
def list_(ctx, project, env):
    """List the backups, newest first: time, size, images, database dump, verification."""
    from ..backup import catalog, commands

    settings = settings_from(ctx)
    registry_from(settings).project(project).check_environment(env)
    print(commands.table(settings, project, env, catalog.backups(settings, project, env)))


@task(help={"project": PROJECT, "env": ENV})
@user_errors
def latest(ctx, project, env):
    """Print only the newest backup's name (exit 1 when there is none)."""
    from ..backup import catalog

    settings = settings_from(ctx)
    registry_from(settings).project(project).check_environment(env)
    print(catalog.resolve(settings, project, env, None).name)


@task(help={"project": PROJECT, "env": ENV, "backup": "the backup to check (default: all of them)"})
@user_errors
def verify(ctx, project, env, backup=None):
    """Check every checksum, archive and image of a backup (or of all)."""
    from ..backup import commands

    settings = settings_from(ctx)
    registry = registry_from(settings)
    registry.project(project).check_environment(env)
    failed = commands.verify(engine_from(settings), settings, registry, project, env, backup, print)
    if failed:
        raise Exit(f"error: {failed} backup(s) of {project}/{env} failed verification; do not restore them", code=1)


@task(help={
    "project": PROJECT, "env": ENV,
    "backup": "backup name, e.g. backup_20250106_120000 (default: the newest)",
    "with-database": "also restore the database from the backup's dump (the current one is saved first)",
})
@user_errors
def restore(ctx, project, env, backup=None, with_database=False):
    """Restore a backup: verify it, save the current state, restore the data, deploy its images."""
    from ..deploy import restore as restoring
    from ..report import console_report

    settings = settings_from(ctx)
    restoring.restore(engine_from(settings), settings, registry_from(settings), project, env, backup or None,
                      with_database, console_report(), deployment_class(settings))


@task(help={
    "project": PROJECT, "env": ENV,
    "keep": "keep the newest N backups (default: backup_keep in invoke.yaml, 10)",
    "max-age-days": "remove backups older than D days (default: backup_max_age_days in invoke.yaml, 30)",
    "dry-run": "show what would be removed; remove nothing",
})
@user_errors
def prune(ctx, project, env, keep=None, max_age_days=None, dry_run=False):
    """Remove old backups (never the newest or the live deployment's), their payload and image tags."""
    from ..backup import commands

    settings = settings_from(ctx)
    registry_from(settings).project(project).check_environment(env)
    result = commands.prune(engine_from(settings), settings, project, env, keep, max_age_days, dry_run)
    print(commands.describe_pruned(result, dry_run))
