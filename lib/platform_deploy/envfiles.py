"""A project's env files: which ones it has and what they hold.

The values are secrets: they are passed to Docker, never printed or logged.
Paths are relative to the platform root, as projects.yml names them.
"""

import io
from pathlib import Path

from dotenv import dotenv_values
from dotenv.parser import parse_stream

from .errors import PlatformError


def env_files(project, environment: str) -> list[str]:
    """Each distinct env file of the project's containers, in container order (often all the same one)."""
    return list(dict.fromkeys(c.env_file_path(project.name, environment) for c in project.containers))


def read_text(path: Path) -> str:
    return Path(path).read_text(encoding="utf-8")


def parse(text: str) -> dict:
    """NAME -> value (None for a bare ``NAME`` line)."""
    return dotenv_values(stream=io.StringIO(text))


def unparseable_lines(text: str) -> list[int]:
    """Line numbers python-dotenv cannot parse (it silently skips them otherwise)."""
    lines = []
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            statement = binding.original.string
            # A statement starts with the blank lines before it; point at its first text.
            leading = statement[: len(statement) - len(statement.lstrip())]
            lines.append(binding.original.line + leading.count("\n"))
    return lines


def read_error(error: Exception) -> str:
    """Why a file could not be read, without quoting its content."""
    # str(UnicodeDecodeError) quotes the offending byte; say only what is wrong.
    if isinstance(error, UnicodeDecodeError):
        return "not UTF-8 text"
    return error.strerror or type(error).__name__


def read_env(settings, project, environment: str, container) -> dict[str, str]:
    """The variables ``container`` gets from its env file ({} when the file does not exist).

    A bare ``NAME`` line (no ``=``) sets nothing.
    """
    project.check_environment(environment)
    relative = container.env_file_path(project.name, environment)
    try:
        text = read_text(Path(settings.root) / relative)
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as error:
        raise PlatformError(f"{relative}: cannot read: {read_error(error)}") from None
    return {name: value for name, value in parse(text).items() if value is not None}
