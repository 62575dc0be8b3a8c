"""The one way this tool runs git: bounded in time, never prompting, errors as results."""

import os
import signal
import subprocess
from dataclasses import dataclass

from .redact import url_credentials
from .textutil import one_line

TIMEOUT = 10
# Keep the user's ssh setup (deploy keys); drop GIT_DIR, GIT_INDEX_FILE & co. that a hook may have set.
KEPT_GIT_VARS = ("GIT_SSH", "GIT_SSH_COMMAND", "GIT_SSH_VARIANT")


@dataclass(frozen=True)
class GitResult:
    code: int
    output: bytes
    err: str

    @property
    def out(self) -> str:
        return self.output.decode("utf-8", "replace")

    @property
    def reason(self) -> str:
        """git's first message line, without its 'fatal: ' prefix and any credentials in URLs."""
        lines = [line.strip() for line in (self.err or self.out).splitlines() if line.strip()]
        first = lines[0] if lines else f"exit status {self.code}"
        for prefix in ("fatal: ", "error: "):
            first = first.removeprefix(prefix)
        return one_line(url_credentials(first), 200)


def run(*args: str, cwd=None, stdin: bytes | None = None, timeout: float = TIMEOUT,
        own_repository: bool = True) -> GitResult:
    """``git args`` in ``cwd``; errors (git missing, timeout) come back as a result, never raised.

    ``own_repository``: ignore the GIT_* variables of the caller's environment (a git hook sets
    GIT_DIR and GIT_INDEX_FILE for its own repository); a hook itself needs them, so it passes False.
    """
    command = ["git", *(["-C", str(cwd)] if cwd is not None else []), *args]
    try:
        # A new session has no controlling terminal, so ssh cannot prompt, and a timeout can
        # kill ssh along with git (subprocess.run would wait for ssh to close the pipes).
        process = subprocess.Popen(command, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   env=_environment(own_repository), start_new_session=True)
    except OSError as error:
        return GitResult(127, b"", f"cannot run git: {error.strerror or error}")
    try:
        out, err = process.communicate(input=stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        return GitResult(-1, b"", f"git {args[0]} timed out after {timeout} s")
    return GitResult(process.returncode, out, err.decode("utf-8", "replace"))


def _environment(own_repository: bool) -> dict:
    env = {name: value for name, value in os.environ.items()
           if not own_repository or not name.startswith("GIT_") or name in KEPT_GIT_VARS}
    env.update(GIT_TERMINAL_PROMPT="0", LC_ALL="C")
    return env
