"""app: a project's live containers, for the operator: their logs, a command run in one, maintenance mode."""

import shlex
import sys

from invoke import Exit, task

from .. import operate
from ..config.maintenance import DEFAULT_MESSAGE, DEFAULT_RETRY_AFTER, MAX_MESSAGE, entry
from ..nginx import maintenance as mode
from ..textutil import utc_timestamp
from .common import engine_from, registry_from, settings_from, user_errors, warn

TARGET_HELP = {"project": "project name from config/projects.yml", "env": "environment: staging or production",
               "role": "one container role of the project (backend, frontend, ...); default: all for logs, "
                       "the first for exec"}


@task(help={**TARGET_HELP, "follow": "keep printing what the containers write until Ctrl-C",
            "since": "only what was written since: a duration back from now (10m, 2h, 1d) or a time "
                     "(2026-12-01T14:30)",
            "tail": "only the last N lines of each container (default: all)"})
@user_errors
def logs(ctx, project, env, role=None, follow=False, since=None, tail=None):
    """Print the logs of a project/environment's live containers (each line prefixed with its role)."""
    settings = settings_from(ctx)
    engine = engine_from(settings)
    containers = operate.live_containers(engine, registry_from(settings), project, env, role)
    try:
        operate.show_logs(engine, containers, follow, operate.since_seconds(since), operate.tail_lines(tail))
    except KeyboardInterrupt:
        raise Exit(code=130) from None


@task(help=TARGET_HELP)
@user_errors
def exec(ctx, project, env, role=None):   # noqa: A001 - the command's name, as in docker exec
    """Run a command in a live container: invoke app.exec --project P --env E [--role R] -- CMD ARGS...
    (interactive when attached to a terminal); exits with the command's exit code."""
    argv = _command_after_dashes(ctx)
    if not argv:
        raise Exit("error: give the command after --, e.g. invoke app.exec --project P --env E -- sh", code=2)
    settings = settings_from(ctx)
    engine = engine_from(settings)
    (_, name), *_ = operate.live_containers(engine, registry_from(settings), project, env, role)
    code = engine.exec_attached(name, argv, tty=sys.stdin.isatty() and sys.stdout.isatty())
    if code:
        raise Exit(code=code)


def _command_after_dashes(ctx) -> list[str]:
    """The words after ``--`` as the shell gave them (Invoke's remainder joins them with spaces, losing
    the quoting of an argument such as ``sh -c 'echo a b'``)."""
    if "--" in sys.argv:
        return sys.argv[sys.argv.index("--") + 1:]
    return shlex.split(ctx.remainder)


@task(help={"project": TARGET_HELP["project"], "env": TARGET_HELP["env"],
            "message": f"one line shown to users (at most {MAX_MESSAGE} characters; default: {DEFAULT_MESSAGE!r})",
            "retry-after": f"seconds sent in the Retry-After header (default: {DEFAULT_RETRY_AFTER})"})
@user_errors
def maintenance(ctx, project, env, message=None, retry_after=None):
    """Answer a project/environment's domains with a 503 page (JSON on its API locations), containers kept
    running; a deploy meanwhile keeps it. `invoke app.live` ends it."""
    settings = settings_from(ctx)
    registry = registry_from(settings)
    was = mode.current(settings, registry, project, env)
    closed = entry(DEFAULT_MESSAGE if message is None else message,
                   DEFAULT_RETRY_AFTER if retry_after is None else retry_after,
                   since=was.since if was else utc_timestamp())
    _reloaded(mode.change(engine_from(settings), settings, registry, project, env, closed))
    print(f"{project}/{env}: in maintenance (503, Retry-After {closed.retry_after} s) since {closed.since}")


@task(help={"project": TARGET_HELP["project"], "env": TARGET_HELP["env"]})
@user_errors
def live(ctx, project, env):
    """End a project/environment's maintenance: nginx proxies to its containers again."""
    settings = settings_from(ctx)
    registry = registry_from(settings)
    was = mode.current(settings, registry, project, env)
    if was is None:
        print(f"{project}/{env}: not in maintenance; nothing changed")
        return
    _reloaded(mode.change(engine_from(settings), settings, registry, project, env, None))
    print(f"{project}/{env}: live again (in maintenance since {was.since})")


def _reloaded(planned) -> None:
    for message in planned.warnings:
        warn(message)
