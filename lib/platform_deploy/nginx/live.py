"""The running platform-nginx: validate the mounted configs and reload gracefully."""

import re

from ..errors import PlatformError
from ..textutil import one_line
from . import files

# nginx: [emerg] unknown directive "x" in /etc/nginx/conf.d/a.conf:12
_EMERG = re.compile(r"\[(?:emerg|crit|alert)\]\s*(.*)")


def _run(engine, settings, argv: list[str]):
    """Run ``argv`` in platform-nginx, or say how to start it."""
    name = settings.nginx_container
    state = engine.inspect(name)
    if state is None:
        raise PlatformError(f"container {name!r} does not exist; start it with `invoke platform.up`")
    if not state.running:
        raise PlatformError(f"container {name!r} is {state.status}; start it with `invoke platform.up`")
    return engine.exec_run(name, argv)


def test_config(engine, settings) -> None:
    """Run ``nginx -t`` inside platform-nginx; raise with nginx's own first error line."""
    code, output = _run(engine, settings, ["nginx", "-t"])
    if code != 0:
        match = _EMERG.search(output)
        reason = match.group(1).strip() if match else one_line(output, -300)
        raise PlatformError(f"nginx rejected the configuration: {reason}")


def reload(engine, settings) -> None:
    """Ask nginx to re-read its configuration (graceful: workers finish their requests)."""
    code, output = _run(engine, settings, ["nginx", "-s", "reload"])
    if code != 0:
        raise PlatformError(f"nginx reload failed: {one_line(output, -300)}")


def generate_and_reload(engine, settings, registry, only=None) -> files.Plan:
    """Write the generated files, test them in nginx, reload; on rejection put the old files back."""
    if settings.on_swarm:   # every edge node's nginx, reached through jobs
        from ..swarm import edge

        return edge.generate_and_reload(engine, settings, registry, only)
    planned = files.plan(settings, registry, only)
    saved = files.snapshot(settings, planned.write + planned.remove)
    files.apply(settings, planned)
    try:
        test_config(engine, settings)
    except PlatformError as error:
        files.restore(settings, saved)
        raise PlatformError(f"{error}; previous files restored, running config untouched") from None
    reload(engine, settings)
    return planned
