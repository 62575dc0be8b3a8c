"""The deploy journal: what an in-flight deploy has changed so far (a JournalEntry).

Written atomically before each step that changes something, removed when the
deploy ends. A journal found at start means a deploy was killed; recovery reads
it to remove what that deploy left and restore the live version.
"""

import json

from ..fsutil import write_atomic
from .paths import private_state_dir, state_dir
from .records import JournalEntry, UnreadableState, read_json


def path(settings, project: str, environment: str):
    return state_dir(settings, project, environment) / "journal.json"


def write(settings, project: str, environment: str, entry: JournalEntry) -> None:
    private_state_dir(settings, project, environment)
    write_atomic(path(settings, project, environment), json.dumps(entry.to_json(), indent=2, sort_keys=True),
                 mode=0o600)


def read(settings, project: str, environment: str) -> JournalEntry | None:
    """The journal of a deploy that did not end, None when there is none; UnreadableState when damaged."""
    file = path(settings, project, environment)
    try:
        data = read_json(file)
    except FileNotFoundError:
        return None
    except ValueError:   # written atomically, so this is damage from outside
        raise UnreadableState(f"{file}: not valid JSON") from None
    return JournalEntry.from_json(data, str(file))


def clear(settings, project: str, environment: str) -> None:
    path(settings, project, environment).unlink(missing_ok=True)
