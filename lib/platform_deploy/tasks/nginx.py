"""nginx: generate configs from config/projects.yml, validate them in platform-nginx, reload."""

import sys

from invoke import Exit, task

from ..nginx import files, live
from .common import engine_from, registry_from, settings_from, user_errors, warn


@task(help={
    "project": "only this project's file (stale files of removed projects are then kept)",
    "dry-run": "print what would be written; write nothing",
    "check": "write nothing; exit 1 listing files that differ from what would be generated",
})
@user_errors
def generate(ctx, project=None, dry_run=False, check=False):
    """Generate platform/nginx/conf.d/*.conf from config/projects.yml."""
    settings = settings_from(ctx)
    planned = files.plan(settings, registry_from(settings), only=project)
    conf = settings.relative(settings.conf_dir)
    if check:
        for name in planned.differs:
            state = "stale, would be removed" if name in planned.remove else "differs from projects.yml"
            print(f"{conf}/{name}: {state}")
        for line in planned.taken:
            print(line)
        if planned.differs:
            raise Exit("nginx configs are out of date: run python3 lib/generate-nginx-configs.py", code=1)
        if planned.taken:
            raise Exit("hand-written nginx configs serve projects' domains", code=1)
        print(f"{conf}: {len(planned.files)} file(s) match config/projects.yml")
        return
    for message in planned.warnings + planned.taken:
        warn(message)
    if dry_run:
        for name, text in sorted(planned.files.items()):
            sys.stdout.write(f"### {conf}/{name}\n{text}")
        for name in planned.remove:
            print(f"### {conf}/{name} would be removed")
        return
    files.apply(settings, planned)
    for name in planned.write:
        print(f"wrote   {conf}/{name}")
    for name in planned.remove:
        print(f"removed {conf}/{name}")
    print(f"{len(planned.files)} file(s) generated, {len(planned.write)} changed, {len(planned.remove)} removed")


@task
@user_errors
def validate(ctx):
    """Run `nginx -t` inside platform-nginx against the generated files."""
    settings = settings_from(ctx)
    live.test_config(engine_from(settings), settings)
    print(f"{settings.nginx_container}: configuration is valid")


@task(help={"project": "only regenerate this project's file"})
@user_errors
def reload(ctx, project=None):
    """Generate, validate, then reload platform-nginx; on failure restore the previous files."""
    settings = settings_from(ctx)
    planned = live.generate_and_reload(engine_from(settings), settings, registry_from(settings), only=project)
    for message in planned.warnings:
        warn(message)
    print(f"{settings.nginx_container}: reloaded ({len(planned.write)} changed, {len(planned.remove)} removed)")
