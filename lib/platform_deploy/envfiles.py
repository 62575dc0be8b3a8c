"""A project's env files: which ones it has and what they hold.

The values are secrets: they are passed to Docker, never printed or logged (redact.py removes them
by value from what a deploy prints and records). Paths are relative to the platform root, as
projects.yml names them, and a project reads only files that resolve (symlinks followed) inside its
own ``config/<project>/``: never the platform's secrets or another project's.

Values are taken literally, as ``docker run --env-file`` does: ``X=${GITHUB_TOKEN}`` gives the
container the eight characters ``${GITHUB_TOKEN}``, never a variable of the deployer's environment
(which would hand the operator's tokens to a tenant), nor one of the file's own earlier lines
(shell ``source`` semantics would also reach the environment through any name the file does not set).
Quotes and ``\\n`` escapes in double quotes are still read as python-dotenv reads them.
"""

import io
from pathlib import Path

from dotenv import dotenv_values
from dotenv.parser import parse_stream

from . import fsutil
from .errors import PlatformError


def env_files(project, environment: str) -> list[str]:
    """Each distinct env file of the project's containers, in container order (often all the same one)."""
    return list(dict.fromkeys(c.env_file_path(project.name, environment) for c in project.containers))


def read_text(path: Path) -> str:
    return Path(path).read_text(encoding="utf-8")


def parse(text: str) -> dict:
    """NAME -> value (None for a bare ``NAME`` line); ``$`` is not expanded."""
    return dotenv_values(stream=io.StringIO(text), interpolate=False)


def confined(settings, project_name: str, relative: str) -> Path:
    """The env file ``relative`` of project ``project_name``; a one-line PlatformError when it resolves
    (following symlinks, even when it does not exist yet) outside ``config/<project>/``, or when
    ``config/`` or ``config/<project>/`` is itself a symlink (to the platform's or another tenant's)."""
    root = Path(settings.root).resolve()
    own = root / "config" / project_name
    path = (root / relative).resolve()
    linked = fsutil.symlink_below(root, f"config/{project_name}")
    if linked or not path.is_relative_to(own):
        where = f"{linked} is a symlink" if linked else f"it resolves to {path}"
        raise PlatformError(f"{relative}: env file outside config/{project_name}/ ({where}); "
                            f"keep the project's env files in config/{project_name}/, not behind links leaving it")
    return path


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
    path = confined(settings, project.name, relative)
    try:
        text = read_text(path)
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as error:
        raise PlatformError(f"{relative}: cannot read: {read_error(error)}") from None
    return {name: value for name, value in parse(text).items() if value is not None}


def readable_envs(settings, project, environment: str) -> list[dict]:
    """The variables of each env file of the project that can be read now (for scrubbing: the files
    that cannot be read fail the pre-flight and the start with their own reasons)."""
    envs = []
    for container in project.containers:
        try:
            envs.append(read_env(settings, project, environment, container))
        except PlatformError:
            continue
    return envs
