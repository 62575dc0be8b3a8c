"""The deploy journal: what an in-flight deploy has changed so far.

Written atomically before each step that changes something, removed when the
deploy ends. A journal found at start means a deploy was killed; recovery reads
it to remove what that deploy left and restore the live version.
"""

import json

from ..fsutil import write_atomic
from .paths import state_dir


def _path(settings, project, environment):
    return state_dir(settings, project, environment) / "journal.json"


def write(settings, project: str, environment: str, entry: dict) -> None:
    write_atomic(_path(settings, project, environment), json.dumps(entry, indent=2, sort_keys=True), mode=0o600)


def read(settings, project: str, environment: str) -> dict | None:
    try:
        return json.loads(_path(settings, project, environment).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except ValueError:
        # Written atomically, so this is damage from outside; recovery falls back to labels.
        return {}


def clear(settings, project: str, environment: str) -> None:
    _path(settings, project, environment).unlink(missing_ok=True)
