"""The running platform-nginx: validate the mounted configs and reload gracefully."""

import re

from ..errors import PlatformError
from ..runtime import docker
from . import files

# nginx: [emerg] unknown directive "x" in /etc/nginx/conf.d/a.conf:12
_EMERG = re.compile(r"\[(?:emerg|crit|alert)\]\s*(.*)")


def test_config(settings) -> None:
    """Run ``nginx -t`` inside platform-nginx; raise with nginx's own first error line."""
    code, output = docker.exec_in(settings.nginx_container, ["nginx", "-t"])
    if code != 0:
        match = _EMERG.search(output)
        reason = match.group(1).strip() if match else " ".join(output.split())[-300:]
        raise PlatformError(f"nginx rejected the configuration: {reason}")


def reload(settings) -> None:
    """Ask nginx to re-read its configuration (graceful: workers finish their requests)."""
    code, output = docker.exec_in(settings.nginx_container, ["nginx", "-s", "reload"])
    if code != 0:
        raise PlatformError(f"nginx reload failed: {' '.join(output.split())[-300:]}")


def generate_and_reload(settings, registry, only=None) -> files.Plan:
    """Write the generated files, test them in nginx, reload; on rejection put the old files back."""
    planned = files.plan(settings, registry, only)
    saved = files.snapshot(settings, planned.write + planned.remove)
    files.apply(settings, planned)
    try:
        test_config(settings)
    except PlatformError as error:
        files.restore(settings, saved)
        raise PlatformError(f"{error}; previous files restored, running config untouched") from None
    reload(settings)
    return planned
