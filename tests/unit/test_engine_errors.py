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


class RemovingAPI:
    """The SDK's low-level client while the engine auto-removes a container: a second removal is refused
    with a 409 until the first one is over."""

    def __init__(self, inspections_until_gone: int):
        self.left = inspections_until_gone

    def remove_container(self, name, force):
        raise api_error(409, f"removal of container {name} is already in progress")

    def inspect_container(self, name):
        if self.left == 0:
            raise docker.errors.NotFound("no such container")
        self.left -= 1
        return {"Id": "6dad130b7cda", "Name": f"/{name}", "State": {"Status": "removing"}}


def engine_over(api) -> DockerEngine:
    engine = DockerEngine()
    engine._client = type("Client", (), {"api": api})()
    return engine


def test_a_removal_already_under_way_is_waited_for_not_reported():
    api = RemovingAPI(inspections_until_gone=3)
    engine_over(api).remove("placeholder")
    assert api.left == 0


def test_a_removal_that_never_ends_is_reported(monkeypatch):
    monkeypatch.setattr("platform_deploy.engine.docker.REMOVAL_WAIT", 0.2)
    with pytest.raises(Conflict, match="cannot remove placeholder"):
        engine_over(RemovingAPI(inspections_until_gone=10**6)).remove("placeholder")
