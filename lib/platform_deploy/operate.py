"""The operator's view of a project's live containers: their logs, and a command run in one.

The containers are found by their labels (project, environment, role) and must carry
the role's live name: a candidate, a retired container or a helper is never picked, nor
a container that only looks like one of the project's.
"""

import re
import sys
import threading
import time
from datetime import datetime

from .errors import PlatformError
from .naming import role_labels
from .textutil import printable

_DURATION = re.compile(r"(\d+)([smhd])")   # one part of 1h30m
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def live_containers(engine, registry, project_name: str, environment: str, role: str | None = None) -> list:
    """[(role, container name)] of the project/environment's running live containers, in registry order."""
    project = registry.project(project_name)
    project.check_environment(environment)
    roles = [container for container in project.containers if role is None or container.role == role]
    if not roles:
        known = ", ".join(container.role for container in project.containers)
        raise PlatformError(f"--role {role}: {project_name} has no such role (its roles: {known})")
    found = []
    for container in roles:
        name = container.container_name(environment)
        if any(state.name == name and state.running
               for state in engine.find(role_labels(project_name, environment, container.role))):
            found.append((container.role, name))
    if not found:
        which = f"role {role} of " if role else ""
        raise PlatformError(f"no running live container for {which}{project_name}/{environment}; deploy it "
                            f"first (invoke deploy --project {project_name} --env {environment} --tag TAG)")
    return found


def since_seconds(text: str | None, now: float | None = None) -> int | None:
    """--since as Unix seconds: a duration back from now (90s, 10m, 2h, 1d, or 1h30m) or an ISO 8601 time."""
    if text is None:
        return None
    now = time.time() if now is None else now
    if re.fullmatch(f"(?:{_DURATION.pattern})+", text):
        return int(now - sum(int(n) * _SECONDS[unit] for n, unit in _DURATION.findall(text)))
    try:
        return int(datetime.fromisoformat(text).timestamp())
    except ValueError:
        raise PlatformError(f"--since {text!r}: give a duration such as 10m, 2h or 1d, or a time such as "
                            "2026-12-01T14:30") from None


def tail_lines(text: str | None) -> int | None:
    """--tail as a line count (None: all of them)."""
    if text is None or text == "all":
        return None
    if not text.isdigit():
        raise PlatformError(f"--tail {text!r}: give a number of lines, or all")
    return int(text)


def show_logs(engine, containers: list, follow: bool, since: int | None, tail: int | None, out=None) -> None:
    """Write the containers' logs to ``out``; with several, each line starts with its role. Following, the
    containers are read side by side until they stop or the user interrupts. On a terminal the lines are
    made printable (an app must not drive the operator's terminal); into a pipe or a file they go as written."""
    out = out or sys.stdout.buffer
    lock = threading.Lock()
    clean = _printable_line if out.isatty() else (lambda line: line)

    def relay(role: str, name: str) -> None:
        prefix = f"{role} | ".encode() if len(containers) > 1 else b""
        pending = b""
        for chunk in engine.logs(name, follow=follow, since=since, tail=tail):
            *lines, pending = (pending + chunk).split(b"\n")
            with lock:
                out.writelines(prefix + clean(line) + b"\n" for line in lines)
                out.flush()
        if pending:
            with lock:
                out.write(prefix + clean(pending) + b"\n")
                out.flush()

    if not follow:
        for role, name in containers:
            relay(role, name)
        return
    failures = []

    def guarded(role, name):
        try:
            relay(role, name)
        except PlatformError as error:
            failures.append(error)

    readers = [threading.Thread(target=guarded, args=pair, daemon=True) for pair in containers]
    for reader in readers:
        reader.start()
    while any(reader.is_alive() for reader in readers):
        time.sleep(0.2)   # a join without a timeout would not let Ctrl-C through
    if failures:
        raise failures[0]


def _printable_line(line: bytes) -> bytes:
    return printable(line.decode("utf-8", "replace")).encode()
