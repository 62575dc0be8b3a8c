"""One deploy at a time per project/environment.

An flock is released by the kernel when its holder dies, so a lock can never
be left stale; the file also records who holds it, for the refusal message.
"""

import fcntl
import getpass
import json
import os
import socket
import time

from ..errors import PlatformError
from ..textutil import utc_timestamp
from .paths import private_state_dir, state_dir

HOLDER_WAIT_SECONDS = 1.0


def holder() -> dict:
    return {
        "pid": os.getpid(),
        "user": getpass.getuser(),
        "host": socket.gethostname(),
        "since": utc_timestamp(),
    }


class DeployLock:
    def __init__(self, settings, project: str, environment: str):
        self.settings, self.project, self.environment = settings, project, environment
        self.path = state_dir(settings, project, environment) / "deploy.lock"
        self.name = f"{project}/{environment}"
        self._handle = None

    def __enter__(self):
        private_state_dir(self.settings, self.project, self.environment)
        handle = os.fdopen(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600), "r+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            who = self._describe_holder(handle)
            handle.close()
            raise PlatformError(f"{self.name} is locked by {who}; wait for that deploy to finish") from None
        handle.truncate()
        handle.write(json.dumps(holder()))
        handle.flush()
        self._handle = handle
        return self

    @classmethod
    def _describe_holder(cls, handle) -> str:
        """Who holds the lock. A holder writes this just after it gets the lock, so a deploy
        refused at that instant finds the file still empty: read again for a moment."""
        deadline = time.monotonic() + HOLDER_WAIT_SECONDS
        while True:
            handle.seek(0)
            who = cls._describe(handle.read())
            if who is not None or time.monotonic() > deadline:
                return who or "another process"
            time.sleep(0.05)

    @staticmethod
    def _describe(text: str) -> str | None:
        try:
            info = json.loads(text)
            return f"pid {info['pid']} ({info['user']}@{info['host']}, since {info['since']})"
        except (ValueError, KeyError, TypeError):
            return None

    def __exit__(self, *exc):
        self._handle.seek(0)
        self._handle.truncate()
        fcntl.flock(self._handle, fcntl.LOCK_UN)
        self._handle.close()
        self._handle = None
