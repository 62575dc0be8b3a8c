"""Every engine implements the whole protocol with its parameters: the Docker engine, the swarm manager's (which
also implements the Cluster protocol) and the tests' fake."""

import inspect

import pytest
from fakes import FakeEngine

from platform_deploy.engine import Cluster, Engine
from platform_deploy.engine.docker import DockerEngine
from platform_deploy.engine.swarm import SwarmEngine

OPERATIONS = sorted(name for name, member in vars(Engine).items()
                    if callable(member) and not name.startswith("_"))


def test_the_protocol_lists_the_operations():
    assert {"inspect", "run", "exec_run", "pull", "connect", "archive_volume", "compose"} <= set(OPERATIONS)


CLUSTER_OPERATIONS = sorted(name for name, member in vars(Cluster).items()
                            if callable(member) and not name.startswith("_"))


@pytest.mark.parametrize("implementation", [DockerEngine, SwarmEngine, FakeEngine])
@pytest.mark.parametrize("operation", OPERATIONS)
def test_each_engine_implements_each_operation(implementation, operation):
    wanted = list(inspect.signature(getattr(Engine, operation)).parameters)
    assert list(inspect.signature(getattr(implementation, operation)).parameters) == wanted


@pytest.mark.parametrize("operation", CLUSTER_OPERATIONS)
def test_the_swarm_engine_implements_each_cluster_operation(operation):
    wanted = list(inspect.signature(getattr(Cluster, operation)).parameters)
    assert list(inspect.signature(getattr(SwarmEngine, operation)).parameters) == wanted
