"""The Docker engine's error translation: every SDK and transport error becomes one engine error.

No engine runs here: ``_translated`` is exercised with the exceptions the SDK raises.
"""

import docker.errors
import pytest
import requests

from platform_deploy.engine import Conflict, EngineUnavailable, NotFound, Refused
from platform_deploy.engine.docker import DockerEngine


def raised(error, missing=None):
    with pytest.raises(Exception) as caught:
        with DockerEngine()._translated("cannot start web", missing=missing):
            raise error
    return caught.value


def api_error(status: int, explanation: str):
    response = requests.Response()
    response.status_code = status
    return docker.errors.APIError(f"{status} Client Error", response=response, explanation=explanation)


@pytest.mark.parametrize("error", [requests.exceptions.ConnectionError("refused"),
                                   requests.exceptions.ReadTimeout("slow"),
                                   requests.exceptions.ChunkedEncodingError("cut")])
def test_transport_errors_mean_the_engine_is_gone(error):
    lost = raised(error)
    assert isinstance(lost, EngineUnavailable)
    assert str(lost).startswith("lost the connection to the Docker engine (") and "bin/start-docker" in str(lost)


def test_not_found_carries_the_callers_message():
    assert isinstance(raised(docker.errors.NotFound("no such container")), NotFound)
    assert str(raised(docker.errors.NotFound("x"), missing="container 'web' does not exist")) == \
        "container 'web' does not exist"


def test_a_conflict_and_a_refusal_keep_the_engines_reason_on_one_line():
    conflict = raised(api_error(409, "container is not\nrunning"))
    assert isinstance(conflict, Conflict) and "\n" not in str(conflict)
    assert str(conflict).startswith("cannot start web: ") and "container is not running" in str(conflict)
    assert isinstance(raised(api_error(500, "driver failed")), Refused)


@pytest.mark.parametrize("error", [ValueError("a bug"), KeyError("x")])
def test_other_errors_pass_through_untouched(error):
    assert raised(error) is error


def test_an_engine_connects_only_when_first_used():
    engine = DockerEngine()
    assert engine._client is None


def test_the_whole_answer_stays_available_for_matching():
    long = "container " + "f" * 200 + " is not connected to network n"
    refused = raised(api_error(500, long))
    assert "is not connected" not in str(refused) and "is not connected" in refused.detail
