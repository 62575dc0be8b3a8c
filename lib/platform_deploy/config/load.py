"""Read config/projects.yml from disk into a validated Registry."""

from pathlib import Path

from ..errors import ConfigError
from .validate import validate
from .yamlsafe import YamlProblem, parse_yaml


def load_registry(path: Path, shown_as: str = "config/projects.yml"):
    """Load and validate the registry at ``path``; errors name it as ``shown_as``."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError([f"{shown_as}: not found; create it (see docs/projects.reference.yml)"]) from None
    except OSError as error:
        raise ConfigError([f"{shown_as}: cannot read: {error.strerror}"]) from None
    return parse_registry(data, shown_as)


def parse_registry(data: bytes, source: str = "config/projects.yml"):
    try:
        parsed = parse_yaml(data)
    except YamlProblem as problem:
        raise ConfigError([f"{source}: {problem}"]) from None
    return validate(parsed, source)
