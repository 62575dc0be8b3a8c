"""Both engines implement the whole protocol with its parameters: the Docker engine and the tests' fake."""

import inspect

import pytest
from fakes import FakeEngine

from platform_deploy.engine import Engine
from platform_deploy.engine.docker import DockerEngine

OPERATIONS = sorted(name for name, member in vars(Engine).items()
                    if callable(member) and not name.startswith("_"))


def test_the_protocol_lists_the_operations():
    assert {"inspect", "run", "exec_run", "pull", "connect", "archive_volume", "compose"} <= set(OPERATIONS)


@pytest.mark.parametrize("implementation", [DockerEngine, FakeEngine])
@pytest.mark.parametrize("operation", OPERATIONS)
def test_each_engine_implements_each_operation(implementation, operation):
    wanted = list(inspect.signature(getattr(Engine, operation)).parameters)
    assert list(inspect.signature(getattr(implementation, operation)).parameters) == wanted
