"""app: a project's live containers, for the operator: their logs, and a command run in one."""

import shlex
import sys

from invoke import Exit, task

from .. import operate
from .common import engine_from, registry_from, settings_from, user_errors

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
