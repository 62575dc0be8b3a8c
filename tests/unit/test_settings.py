"""settings.py: the engine setting, read like every other and refused in one line when unknown."""

import pytest
from invoke import Exit

from platform_deploy.engine.docker import DockerEngine
from platform_deploy.errors import ConfigError
from platform_deploy.settings import Settings
from platform_deploy.tasks.common import engine_from, user_errors

BAD_ENGINE = "setting engine (PLATFORM_ENGINE): 'kubernetes' is neither docker nor swarm"


def test_the_engine_is_a_single_docker_host_by_default():
    settings = Settings.load(environ={})
    assert settings.engine == "docker" and settings.on_swarm is False


def test_swarm_from_the_environment_or_invoke_yaml():
    assert Settings.load(environ={"PLATFORM_ENGINE": "swarm"}).on_swarm is True
    assert Settings.load({"engine": "swarm"}, environ={}).on_swarm is True
    assert Settings.load({"engine": "swarm"}, environ={"PLATFORM_ENGINE": "docker"}).on_swarm is False


def test_an_unknown_engine_is_one_line_naming_the_setting():
    settings = Settings.load(environ={"PLATFORM_ENGINE": "kubernetes"})
    with pytest.raises(ConfigError) as caught:
        settings.on_swarm
    assert str(caught.value) == BAD_ENGINE


@pytest.mark.parametrize("engine", ["docker", "swarm"])
def test_both_engines_drive_docker_until_the_swarm_engine_exists(engine):
    assert isinstance(engine_from(Settings(engine=engine)), DockerEngine)


def test_a_task_refuses_an_unknown_engine_where_it_picks_the_engine():
    with pytest.raises(Exit) as caught:
        user_errors(engine_from)(Settings(engine="kubernetes"))
    assert (caught.value.message, caught.value.code) == (f"error: {BAD_ENGINE}", 1)
