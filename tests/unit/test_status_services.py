"""`status` on a swarm: each role's service with its tasks per node and their health, from hand-made records."""

from platform_deploy.engine import ImageInfo, NodeState, ServiceState, TaskState
from platform_deploy.status import services, text

NAME = "filter-ical-backend-production"
IMAGE = "ghcr.io/user/filter-ical-backend:v5@sha256:" + "5" * 64
NODES = [NodeState(f"n{number}", f"swarmlab-{number}", "worker", False, "active", "ready", f"10.123.0.1{number}",
                   "20.10.24") for number in (1, 2, 3)]
CHECKED = ImageInfo("sha256:5", None, health_command=("curl", "-f", "http://localhost:3000/health"))
UNCHECKED = ImageInfo("sha256:5", None)


def task(node, slot, state="running", desired="running", error="", service=NAME):
    return TaskState(service, slot, node, state, desired, error=error)


def service(spec=None, replicas=3):
    return ServiceState("id", NAME, 7, {}, IMAGE, replicas, spec=spec or {})


TASKS = [task("n3", 3, "failed", error="task: non-zero exit (1)"), task("n1", 1), task("n2", 2, "starting"),
         task("n1", 2, "shutdown", desired="shutdown"),                       # replaced: history
         task("n2", 1, service=f"{NAME}-next-20250106120000-ab06")]          # a deploy's candidate


def test_each_task_meant_to_run_shows_its_node_state_and_health():
    shaped = services.role_view("backend", NAME, service(), TASKS, NODES, CHECKED)
    assert shaped == {"role": "backend", "service": NAME, "exists": True, "image": IMAGE, "replicas": 3,
                      "healthcheck": True, "tasks": [
                          {"node": "swarmlab-1", "slot": 1, "state": "running", "health": "healthy", "error": ""},
                          {"node": "swarmlab-2", "slot": 2, "state": "starting", "health": "starting", "error": ""},
                          {"node": "swarmlab-3", "slot": 3, "state": "failed", "health": "failed",
                           "error": "task: non-zero exit (1)"}]}


def test_running_is_healthy_only_when_the_tasks_run_a_healthcheck():
    assert [row["health"] for row in services.role_view("backend", NAME, service(), TASKS, NODES, UNCHECKED)["tasks"]
            ] == ["running", "starting", "failed"]
    unknown = services.role_view("backend", NAME, service(), TASKS, NODES, None)   # image not on this manager
    assert unknown["healthcheck"] is None and unknown["tasks"][0]["health"] == "running"


def test_the_services_own_healthcheck_overrides_the_images():
    disabled = {"TaskTemplate": {"ContainerSpec": {"Healthcheck": {"Test": ["NONE"]}}}}
    own = {"TaskTemplate": {"ContainerSpec": {"Healthcheck": {"Test": ["CMD", "true"]}}}}
    assert services.healthcheck(service(disabled), CHECKED) is False
    assert services.healthcheck(service(own), None) is True
    interval_only = {"TaskTemplate": {"ContainerSpec": {"Healthcheck": {"Interval": 5_000_000_000}}}}
    assert services.healthcheck(service(interval_only), UNCHECKED) is False


def test_an_unplaced_task_says_so_and_a_missing_service_has_no_tasks():
    pending = [task("", 1, "pending", error="no suitable node (scheduling constraints not satisfied on 3 nodes)")]
    assert services.role_view("backend", NAME, service(replicas=1), pending, NODES, CHECKED)["tasks"][0]["node"] == \
        "(unassigned)"
    assert services.role_view("frontend", "filter-ical-frontend-production", None, TASKS, NODES, None) == {
        "role": "frontend", "service": "filter-ical-frontend-production", "exists": False, "image": None,
        "replicas": None, "healthcheck": None, "tasks": []}


def health_lines(*rows) -> list[str]:
    view = {"project": "filter-ical", "environment": "production", "maintenance": None, "current": None,
            "last_attempt": None, "health": {"reachable": True, "services": list(rows)}}
    return text.current(view).splitlines()[2:]


def test_the_text_shows_each_service_then_its_tasks_by_node():
    assert health_lines(services.role_view("backend", NAME, service(), TASKS, NODES, CHECKED),
                        services.role_view("frontend", "filter-ical-frontend-production", None, [], NODES, None)) == [
        f"  health        {NAME}: {IMAGE}, 3 replica(s)",
        "                  swarmlab-1  healthy",
        "                  swarmlab-2  starting",
        "                  swarmlab-3  failed (task: non-zero exit (1))",
        "                filter-ical-frontend-production: absent"]


def test_the_text_says_why_running_is_not_healthy_and_when_no_task_is_meant_to_run():
    assert health_lines(services.role_view("backend", NAME, service(), TASKS[1:2], NODES, None)) == [
        f"  health        {NAME}: {IMAGE}, 3 replica(s), healthcheck unknown (image not on this manager)",
        "                  swarmlab-1  running"]
    assert health_lines(services.role_view("backend", NAME, service(replicas=0), [], NODES, UNCHECKED)) == [
        f"  health        {NAME}: {IMAGE}, 0 replica(s), no healthcheck",
        "                  no task meant to run"]


def test_a_global_service_says_so_in_place_of_its_replicas():
    assert health_lines(services.role_view("backend", NAME, service(replicas=None), TASKS[1:2], NODES, CHECKED))[0] == \
        f"  health        {NAME}: {IMAGE}, global"
