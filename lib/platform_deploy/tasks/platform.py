"""platform: start, stop and inspect the shared services platform-nginx and postgres-platform."""

from invoke import task

from .. import platform_services
from .common import engine_from, registry_from, settings_from, user_errors, warn


@task(help={"timeout": "seconds to wait for both containers to report healthy (default 120)"})
@user_errors
def up(ctx, timeout=platform_services.DEFAULT_TIMEOUT):
    """Build missing images, start platform-nginx and postgres-platform, attach them to every project network."""
    settings = settings_from(ctx)
    if settings.on_swarm:
        from ..swarm import layout

        report = layout.up(engine_from(settings), settings, registry_from(settings), timeout=timeout)
        changes = ([f"created overlay network {network}" for network in report.created_networks]
                   + [f"service {name}: created or rolled to its new spec" for name in report.changed_services])
        done = f"services {settings.nginx_container} and {settings.postgres_container} are up on the swarm"
    else:
        report = platform_services.up(engine_from(settings), settings, registry_from(settings), timeout=timeout)
        changes = ([f"created network {network}" for network in report.created_networks]
                   + [f"connected {container} to {network}" for container, network in report.connections])
        done = f"{settings.nginx_container} and {settings.postgres_container} are up and healthy"
    for message in report.warnings:
        warn(message)
    if report.created_password:
        print(f"created {settings.relative(platform_services.postgres_env_file(settings))} (mode 0600)")
    for name in report.nginx_files:
        print(f"nginx: updated {settings.relative(settings.conf_dir / name)}")
    for line in changes + [done]:
        print(line)


@task
@user_errors
def down(ctx):
    """Stop and remove platform-nginx and postgres-platform; the database volume is kept."""
    settings = settings_from(ctx)
    removed = platform_services.down(engine_from(settings), settings)
    print(f"removed {', '.join(removed)}; volumes kept" if removed else "platform services were not running")


@task
@user_errors
def status(ctx):
    """Show whether platform-nginx and postgres-platform run and are healthy."""
    settings = settings_from(ctx)
    for name, state in platform_services.status(engine_from(settings), settings):
        if state is None:
            print(f"{name}: absent (start it with `invoke platform.up`)")
        else:
            print(f"{name}: {state.status}, {state.health or 'no healthcheck'}")
