"""config/maintenance.yml: the project/environments nginx answers with a 503 page, read and validated once.

    shop:
      production: {message: "Back at 06:00 UTC.", since: "2026-12-02T05:00:00Z", retry_after: 300}

An absent file means nothing is in maintenance. Its values end up in nginx configs: every one is checked here
(the message is escaped again where it is rendered). Only reading and shaping text here; writing the file is
nginx/maintenance.py's job (config/ writes nothing).
"""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import yaml

from ..errors import ConfigError
from ..textutil import TIMESTAMP
from .validate import Problems, part, show
from .yamlsafe import YamlProblem, parse_yaml

FILE = "config/maintenance.yml"
DEFAULT_MESSAGE = "We are doing some maintenance and will be back shortly."
DEFAULT_RETRY_AFTER = 300
MAX_MESSAGE = 300
MAX_RETRY_AFTER = 7 * 86400
_SINCE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
HEADER = ("# Written by `invoke app.maintenance` and `invoke app.live`: the project/environments nginx answers\n"
          "# with a 503 page (see README.md). Generated configs depend on it: change it through those commands.\n")


@dataclass(frozen=True)
class Maintenance:
    message: str        # one line of plain text, shown on the page and in the JSON answer
    since: str          # UTC, 2026-12-02T05:00:00Z
    retry_after: int    # seconds, sent as the Retry-After header


def load(path: Path, registry, shown_as: str = FILE) -> dict:
    """{(project, environment): Maintenance} from ``path``; empty when the file is absent."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as error:
        raise ConfigError([f"{shown_as}: cannot read: {error.strerror}"]) from None
    return parse(data, registry, shown_as)


def parse(data: bytes, registry, source: str = FILE) -> dict:
    try:
        parsed = parse_yaml(data)
    except YamlProblem as problem:
        raise ConfigError([f"{source}: {problem}"]) from None
    problems, state = Problems(source), {}
    for project_name, environments in _keyed(problems, "", parsed).items():
        path = part(project_name)
        if project_name not in registry.names:
            problems.add(path, f"no project {show(project_name)} in {registry.source}; remove the entry")
            continue
        project = registry.project(project_name)
        for environment, value in _keyed(problems, path, environments).items():
            where = f"{path}/{part(environment)}"
            if environment not in project.environments:
                problems.add(where, f"{project_name} has no environment {show(environment)} "
                                    f"(its environments: {', '.join(project.environments)}); remove the entry")
                continue
            checked = None if value is None else _entry(problems, where, value)
            if checked is not None:
                state[(project_name, environment)] = checked
    if problems.lines:
        raise ConfigError(problems.lines)
    return state


def entry(message, retry_after, since: str) -> Maintenance:
    """A new entry from the command line; one line per problem naming the option."""
    problems = Problems("app.maintenance")
    checked = Maintenance(_message(problems, "--message", message),
                          since, _retry_after(problems, "--retry-after", retry_after))
    if problems.lines:
        raise ConfigError(problems.lines)
    return checked


def dump(state: dict) -> str | None:
    """The file's text for ``state``; None when nothing is in maintenance (the file is then removed)."""
    if not state:
        return None
    nested: dict = {}
    for (project, environment), value in sorted(state.items()):
        nested.setdefault(project, {})[environment] = {
            "message": value.message, "since": value.since, "retry_after": value.retry_after}
    return HEADER + yaml.safe_dump(nested, sort_keys=False, allow_unicode=True, width=1000)


def _keyed(problems, path, value) -> dict:
    """A mapping keyed by names (empty when absent: an emptied entry means nothing in maintenance)."""
    return {} if value is None else problems.mapping(path, value, optional=None) or {}


def _entry(problems, path, value) -> Maintenance | None:
    mapping = problems.mapping(path, value, required=("message", "since", "retry_after"))
    if mapping is None or any(key not in mapping for key in ("message", "since", "retry_after")):
        return None
    found = len(problems.lines)
    checked = Maintenance(_message(problems, f"{path}/message", mapping["message"]),
                          _since(problems, f"{path}/since", mapping["since"]),
                          _retry_after(problems, f"{path}/retry_after", mapping["retry_after"]))
    return checked if len(problems.lines) == found else None


def _message(problems, path, value):
    if not isinstance(value, str) or not value.strip():
        problems.add(path, f"{show(value)} is not a non-empty text")
    elif len(value) > MAX_MESSAGE:
        problems.add(path, f"{show(value)} is longer than {MAX_MESSAGE} characters")
    elif not value.isprintable():   # control characters, line breaks, invisible format characters
        problems.add(path, f"{show(value)} holds a control character or a line break; give one line of text")
    else:
        return value
    return None


def _since(problems, path, value):
    if isinstance(value, datetime) and value.utcoffset() == timedelta(0):   # written unquoted: YAML's timestamp
        return value.strftime(TIMESTAMP)
    if isinstance(value, str) and _SINCE.fullmatch(value):
        try:
            datetime.strptime(value, TIMESTAMP)
            return value
        except ValueError:
            pass
    problems.add(path, f"{show(value)} is not a UTC time like 2026-12-02T05:00:00Z")
    return None


def _retry_after(problems, path, value):
    return problems.integer(path, value, 1, MAX_RETRY_AFTER, f"a whole number of seconds from 1 to {MAX_RETRY_AFTER}")
