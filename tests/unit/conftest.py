"""Fixtures shared by the unit tests (no Docker anywhere here)."""

import sys
from pathlib import Path

import pytest
import yaml

from platform_deploy.config.load import parse_registry
from platform_deploy.errors import ConfigError

TESTS_DIR = Path(__file__).resolve().parents[1]

# tests/strategies.py is a plain module shared with the integration tests: `import strategies`.
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

# The platform root and FakeEngine of the pipeline and recovery tests (test_pipeline.py, test_recovery.py).
from deploy_world import live, no_rollback, world  # noqa: F401


def _parse(source):
    """A projects.yml given as text, bytes or Python data (dumped to YAML like a real file)."""
    if isinstance(source, str):
        source = source.encode("utf-8")
    elif not isinstance(source, bytes):
        source = yaml.safe_dump(source, sort_keys=False, allow_unicode=True).encode("utf-8")
    return parse_registry(source)


@pytest.fixture
def load():
    """load(source) -> Registry, through the real YAML loader and validator."""
    return _parse


@pytest.fixture
def refused():
    """refused(source) -> the problem lines; fails the test when the registry is accepted."""

    def problems(source):
        with pytest.raises(ConfigError) as caught:
            _parse(source)
        assert str(caught.value) == "\n".join(caught.value.problems)
        return caught.value.problems

    return problems
