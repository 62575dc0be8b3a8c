"""The one root error. Its message says what failed and what to do about it.

Tasks turn a PlatformError into a one-line ``invoke.Exit`` (no traceback);
anything else is a bug and keeps its traceback.
"""


class PlatformError(Exception):
    """A failure the user can act on; ``str(error)`` is the whole message."""


class ConfigError(PlatformError):
    """projects.yml (or a setting) is invalid; carries every problem found, one per line."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))
