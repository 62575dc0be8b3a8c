"""`invoke swarm.status`: nodes first the managers, each project's service with where its wanted tasks run;
tasks being replaced, and services that are not a project's, are left out."""

from platform_deploy.engine import NodeState, TaskState
from platform_deploy.status import swarm

NODES = [NodeState("n3", "swarmlab-3", "worker", False, "drain", "down", "10.123.0.13", "20.10.24"),
         NodeState("n1", "swarmlab-1", "manager", True, "active", "ready", "10.123.0.11", "20.10.24",
                   {"platform.edge": "true", "platform.db": "true"}),
         NodeState("n2", "swarmlab-2", "worker", False, "active", "ready", "10.123.0.12", "20.10.24")]
SHOP = {"platform.project": "shop", "platform.environment": "production", "platform.role": "backend"}


def task(node, slot, state="running", desired="running", labels=SHOP, service="shop-backend-production", error=""):
    return TaskState(service, slot, node, state, desired, labels, error)


TASKS = [task("n2", 2), task("n1", 1), task("n3", 2, "shutdown", "shutdown"),
         task("", 3, "pending", error="no suitable node (max replicas per node limit exceed)"),
         task("n1", 1, labels={}, service="someone-elses")]


def test_the_view_orders_nodes_and_keeps_only_the_projects_wanted_tasks():
    shaped = swarm.view(NODES, TASKS)
    assert [node["hostname"] for node in shaped["nodes"]] == ["swarmlab-1", "swarmlab-2", "swarmlab-3"]
    assert shaped["nodes"][0]["labels"] == {"platform.db": "true", "platform.edge": "true"}
    (service,) = shaped["services"]
    assert (service["project"], service["environment"], service["role"]) == ("shop", "production", "backend")
    assert [(t["node"], t["slot"], t["state"]) for t in service["tasks"]] == [
        ("swarmlab-1", 1, "running"), ("swarmlab-2", 2, "running"), ("(unassigned)", 3, "pending")]


def test_the_text_says_each_nodes_state_and_where_each_project_runs():
    assert swarm.text(swarm.view(NODES, TASKS)).splitlines() == [
        "swarm: 3 node(s), 1 manager(s), 2 ready",
        "  swarmlab-1  manager (leader) active  ready    10.123.0.11     engine 20.10.24  "
        "platform.db=true, platform.edge=true",
        "  swarmlab-2  worker           active  ready    10.123.0.12     engine 20.10.24",
        "  swarmlab-3  worker           drain   down     10.123.0.13     engine 20.10.24",
        "projects:",
        "  shop/production backend (shop-backend-production): swarmlab-1 running, swarmlab-2 running, "
        "(unassigned) pending (no suitable node (max replicas per node limit exceed))"]


def test_a_swarm_without_projects_says_so():
    assert swarm.text(swarm.view(NODES[1:2], [])).splitlines()[-1] == "projects: none on this swarm"
