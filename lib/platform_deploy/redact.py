"""Keep credentials out of what the tool prints and records.

Three nets, applied together by a ``Scrubber`` (after control characters are stripped, so that an
escape sequence cannot split a secret and slip it through):

1. by value: the values of the project's env files (see ``secret_values``), whatever characters they hold;
2. URL credentials: ``scheme://user:password@host`` with any characters in the password (up to the
   last ``@`` before the host on that line);
3. ``key=value`` and ``key: value`` secrets: ``password=...``, ``"api_token": "..."``, ``PGPASSWORD='...'``.

Every hidden part becomes ``***``.
"""

import re
from urllib.parse import unquote, urlsplit

from .textutil import one_line, printable

HIDDEN = "***"
# A variable or field named like a secret; notify.py drops fields so named.
SECRET_NAME = re.compile(r"SECRET|PASS|TOKEN|KEY|CREDENTIAL|DATABASE_URL|DSN|AUTH", re.IGNORECASE)
MIN_SECRET_LENGTH = 4     # a secret-named variable's value shorter than this would wipe out common words
MIN_VALUE_LENGTH = 8      # any other variable's value from this length on is a secret but a number (30000000)
NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")
NOT_SECRETS = {"true", "false", "yes", "none", "null"}   # flags, also of secret-named variables (AUTH_ENABLED=true)

# user, then optionally ":password" running to the last "@" on the line that is followed by a host,
# without crossing into another URL.
URL_CREDENTIALS = re.compile(r"(?<=://)[^\s/@:]*(?::(?:(?!://)[^\n])*)?@(?=[\w\[])")
KEY_VALUE = re.compile(
    r"""(?P<key>\b[\w.-]*(?:passw(?:or)?d|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key)[\w.-]*)"""
    r"""(?P<sep>["']?\s*[=:]\s*)"""
    r"""(?:(?P<quote>["'])(?P<quoted>.*?)(?P=quote)|(?P<bare>[^\s,;&"']+))""",
    re.IGNORECASE)


def url_credentials(text: str) -> str:
    """``text`` with the ``user:password@`` of every URL in it replaced by ``***@``."""
    return URL_CREDENTIALS.sub(HIDDEN + "@", text)


def key_value_secrets(text: str) -> str:
    """``text`` with the value of every ``password=...``-like pair replaced by ``***`` (quotes kept)."""
    def hide(match):
        quote = match["quote"] or ""
        return f"{match['key']}{match['sep']}{quote}{HIDDEN}{quote}"
    return KEY_VALUE.sub(hide, text)


def secret_values(env: dict, keep=()) -> set[str]:
    """The values of ``env`` (NAME -> value) to remove by value wherever they appear.

    Every value of a secret-named variable from MIN_SECRET_LENGTH characters on, every other value from
    MIN_VALUE_LENGTH characters on unless it is a number (case says nothing: ``openssl rand -hex 32`` is
    lowercase), and the password of every URL among them, as written and decoded; never a flag
    (``true``, ``no``, ...) nor a value in ``keep``: the project's and the platform's public names
    (``production``, ``postgres-platform``: see deploy/scrubbing.py), which hiding would wipe from every line.
    """
    values = set()
    for name, value in env.items():
        if not value or value in keep or value.lower() in NOT_SECRETS:
            continue
        secret_named = SECRET_NAME.search(name) is not None
        if secret_named and len(value) >= MIN_SECRET_LENGTH or (
                len(value) >= MIN_VALUE_LENGTH and not NUMBER.fullmatch(value)):
            values.add(value)
        values.update(_url_password(value) - set(keep))
    return {form for value in values for form in (value, printable(value), one_line(value))
            if len(form) >= MIN_SECRET_LENGTH}


def _url_password(value: str) -> set[str]:
    try:
        password = urlsplit(value).password if "://" in value else None
    except ValueError:
        return set()
    return {password, unquote(password)} if password else set()


class Scrubber:
    """``scrubber(text)``: ``text`` printable, with the given values, URL credentials and key=value secrets hidden."""

    def __init__(self, values=(), keep=()):
        self.values = tuple(sorted(set(values), key=len, reverse=True))   # longest first: no partial leftovers
        self.keep = frozenset(keep)

    @classmethod
    def from_env(cls, *envs: dict, keep=()) -> "Scrubber":
        """A scrubber of the secret values of ``envs`` (each NAME -> value, one per env file) but those in
        ``keep`` (see secret_values); ``including`` keeps them too."""
        return cls(set().union(*(secret_values(env, keep) for env in envs)), keep)

    def including(self, *envs: dict) -> "Scrubber":
        """This scrubber with the secret values of ``envs`` too."""
        return Scrubber(set(self.values).union(*(secret_values(env, self.keep) for env in envs)), self.keep)

    def __call__(self, text) -> str:
        text = printable(text)
        for value in self.values:
            text = _without_cut_end(text.replace(value, HIDDEN), value)
        return key_value_secrets(url_credentials(text))


def _without_cut_end(text: str, value: str) -> str:
    """``text`` without a start of ``value`` at its end: output cut to a length may end inside a secret."""
    for length in range(len(value) - 1, MIN_SECRET_LENGTH - 1, -1):
        if text.endswith(value[:length]):
            return text[:-length] + HIDDEN
    return text
