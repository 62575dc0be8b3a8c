"""HTTP-01 answers in platform-nginx's webroot, which it serves at /.well-known/acme-challenge/ on port 80 for
every domain (templates/project.conf.j2). The webroot is a Docker volume (platform/docker-compose.yml), so the
files are written through the engine, inside the container."""

import re

from ..errors import PlatformError
from ..textutil import one_line

WEBROOT = "/var/www/certbot"   # where platform-nginx mounts the volume
DIRECTORY = f"{WEBROOT}/.well-known/acme-challenge"
# RFC 8555 8.3: a token is base64url. Anything else (a "../" from a hostile server) never reaches a path.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
_KEY_AUTHORIZATION = re.compile(r"[A-Za-z0-9_-]{1,256}\.[A-Za-z0-9_-]{1,256}")

# Values arrive as positional parameters: nothing the ACME server sends is parsed by the shell.
_WRITE = 'mkdir -p "$1" && printf %s "$3" > "$1/.$2.tmp" && mv -f "$1/.$2.tmp" "$1/$2"'
_REMOVE = 'rm -f "$1/$2"'


def publish(engine, settings, token: str, key_authorization: str) -> None:
    if not _TOKEN.fullmatch(token) or not _KEY_AUTHORIZATION.fullmatch(key_authorization):
        raise PlatformError("the ACME server sent a challenge token that is not base64url; not written")
    _run(engine, settings, ["sh", "-c", _WRITE, "publish", DIRECTORY, token, key_authorization], "write")


def withdraw(engine, settings, token: str) -> None:
    if _TOKEN.fullmatch(token):
        _run(engine, settings, ["sh", "-c", _REMOVE, "withdraw", DIRECTORY, token], "remove")


def _run(engine, settings, argv: list[str], verb: str) -> None:
    code, output = engine.exec_run(settings.nginx_container, argv)
    if code != 0:
        raise PlatformError(f"cannot {verb} the ACME challenge in {settings.nginx_container}:{DIRECTORY}: "
                            f"{one_line(output, 200)}")
