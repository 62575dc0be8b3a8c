"""invoke app.maintenance / app.live through the real platform-nginx, under load: users get only 503s (with
Retry-After; JSON on the API, the page elsewhere) while it is on, not one failed request before or after, and a
deploy meanwhile goes through (its own check still reaches the new containers) and keeps the maintenance page."""

import json
import time

import pytest
from deploy_support import demo_images, load_on, projects  # noqa: F401  (fixtures)

pytestmark = pytest.mark.integration

MAX_SECONDS = 90          # the load stops by itself even if a command hangs
RELOAD_SECONDS = 0.5      # nginx's old workers finish the requests they had when the command returned


def target(project) -> tuple[str, ...]:
    return ("--project", project.name, "--env", "production")


def window(result, start: float, end: float) -> tuple[int, list[str]]:
    """(requests due in [start, end), the outcomes of those that failed)."""
    due = [at for at, _ in result.latencies if start <= at < end]
    return len(due), [outcome for at, outcome in result.failures if start <= at < end]


def test_maintenance_under_load_then_live_again(projects):  # noqa: F811 - the fixture
    project = projects()
    assert project.deploy("v1").ok
    with load_on(project, MAX_SECONDS) as load:
        time.sleep(1.5)
        switching_on = time.monotonic()
        on = project.invoke("app.maintenance", *target(project), "--message", 'Back at 06:00 UTC, "$5" off',
                            "--retry-after", "120")
        on_at = time.monotonic()
        assert on.returncode == 0, on.stderr
        time.sleep(1.5)
        status, headers, page = project.request("/")
        api_status, api_headers, api_body = project.request("/api/version")
        deployed = project.deploy("v2")
        after_deploy = project.request("/api/version")
        shown = project.invoke("status", *target(project), "--json")
        time.sleep(1)
        switching_off = time.monotonic()
        off = project.invoke("app.live", *target(project))
        off_at = time.monotonic()
        assert off.returncode == 0, off.stderr
        time.sleep(2)
    result = load.result
    assert f"{project.name}/production: in maintenance (503, Retry-After 120 s)" in on.stdout
    assert status == 503 and headers.get("Retry-After") == "120" and "Back at 06:00 UTC" in page
    assert "&quot;&#36;5&quot;" in page and headers.get("Content-Type", "").startswith("text/html")
    assert api_status == 503 and api_headers.get("Retry-After") == "120"
    assert json.loads(api_body) == {"error": "maintenance", "message": 'Back at 06:00 UTC, "$5" off'}
    assert deployed.ok, deployed.error
    assert after_deploy[0] == 503, "the deploy ended the maintenance"
    assert json.loads(shown.stdout)["maintenance"]["retry_after"] == 120
    # Before and after: not one failed request. While on: nothing but 503s.
    before, failed_before = window(result, 0.0, switching_on)
    during, failed_during = window(result, on_at + RELOAD_SECONDS, switching_off)
    after, failed_after = window(result, off_at + RELOAD_SECONDS, float("inf"))
    assert before > 100 and failed_before == [], failed_before
    assert during > 100 and failed_during == ["HTTP 503"] * during, set(failed_during)
    assert after > 100 and failed_after == [], failed_after
    assert set(failed for _, failed in result.failures) == {"HTTP 503"}
    assert project.serving() == ("v2", "v2")
    assert "maintenance" not in project.invoke("status", *target(project)).stdout.split()
