"""bin/start-swarm-lab and bin/stop-swarm-lab: three Docker engines, each in its own network namespace, form a
swarm (one labelled manager, two workers) whose nodes pull from the local registry and carry overlay traffic
between each other; stopping removes all of it. The Swarm backend's tests build on this rig.

Traffic goes only to the lab's own addresses (10.123.0.0/24, on a bridge made for it) and to containers on
an overlay network the test created. PLATFORM_TESTS_SWARM=0 skips them on a machine without namespaces.
"""

import json
import os
import subprocess
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(os.environ.get("PLATFORM_TESTS_SWARM") == "0", reason="PLATFORM_TESTS_SWARM=0")]

REPO = Path(__file__).resolve().parents[2]
REGISTRY = "10.123.0.1:5000"
NODES = ("unix:///run/swarmlab/node1.sock", "unix:///run/swarmlab/node2.sock", "unix:///run/swarmlab/node3.sock")


def run(*argv: str, timeout: float = 180) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(argv)}: {done.stderr or done.stdout}"
    return done.stdout


def on(node: str, *argv: str, timeout: float = 180) -> str:
    return run("docker", "-H", node, *argv, timeout=timeout)


@pytest.fixture(scope="module")
def lab():
    manager = run(str(REPO / "bin" / "start-swarm-lab"), timeout=300).strip()
    assert manager == NODES[0]
    yield manager
    run(str(REPO / "bin" / "stop-swarm-lab"), timeout=300)


def test_three_nodes_one_labelled_manager_each_pulling_from_the_local_registry(lab):
    nodes = [json.loads(line) for line in on(lab, "node", "ls", "--format", "{{json .}}").splitlines()]
    assert sorted((node["Hostname"], node["Status"], node["ManagerStatus"]) for node in nodes) == [
        ("swarmlab-1", "Ready", "Leader"), ("swarmlab-2", "Ready", ""), ("swarmlab-3", "Ready", "")]
    labels = json.loads(on(lab, "node", "inspect", "self", "--format", "{{json .Spec.Labels}}"))
    assert labels == {"platform.edge": "true", "platform.db": "true"}
    for node in NODES:   # an insecure registry on the lab's bridge, the local registry's storage behind it
        on(node, "pull", "--quiet", f"{REGISTRY}/demo-frontend:v1")


def test_a_service_spread_over_the_nodes_answers_across_the_overlay(lab):
    on(lab, "network", "create", "--driver", "overlay", "--attachable", "lab-test")
    try:
        on(lab, "service", "create", "--quiet", "--name", "lab-web", "--replicas", "3", "--network", "lab-test",
           "--replicas-max-per-node", "1", f"{REGISTRY}/demo-frontend:v1", timeout=240)
        placed = on(lab, "service", "ps", "lab-web", "--filter", "desired-state=running",
                    "--format", "{{.Node}} {{.CurrentState}}").splitlines()
        assert sorted(line.split()[0] for line in placed) == ["swarmlab-1", "swarmlab-2", "swarmlab-3"], placed
        # From a container on the manager, each task's own address: two of them are on other engines.
        answers = on(lab, "run", "--rm", "--network", "lab-test", f"{REGISTRY}/demo-frontend:v1", "sh", "-c",
                     "for ip in $(getent ahostsv4 tasks.lab-web | awk '{print $1}' | sort -u); do "
                     "curl -fsS -m 5 -o /dev/null -w '%{http_code}\\n' http://$ip/ || echo failed; done", timeout=120)
        assert answers.split() == ["200", "200", "200"], answers
    finally:
        subprocess.run(["docker", "-H", lab, "service", "rm", "lab-web"], capture_output=True)
        subprocess.run(["docker", "-H", lab, "network", "rm", "lab-test"], capture_output=True)


def test_swarm_status_shows_the_nodes_and_where_a_projects_service_runs(lab):
    """`invoke swarm.status` against the lab's manager: the nodes, and a service labelled as a project's
    (created here the way the Swarm backend labels them) with its tasks per node; --json too."""
    labels = ["--label", "platform.project=labshop", "--label", "platform.environment=production",
              "--label", "platform.role=backend"]
    on(lab, "service", "create", "--quiet", "--name", "labshop-backend-production", "--replicas", "2",
       "--replicas-max-per-node", "1", *labels, f"{REGISTRY}/demo-frontend:v1", timeout=240)
    try:
        env = {**os.environ, "DOCKER_HOST": lab}
        invoke = [str(REPO / ".venv" / "bin" / "invoke"), "--search-root", str(REPO), "swarm.status"]
        shown = subprocess.run(invoke, capture_output=True, text=True, env=env, timeout=60)
        assert shown.returncode == 0, shown.stderr
        lines = shown.stdout.splitlines()
        assert lines[0] == "swarm: 3 node(s), 1 manager(s), 3 ready"
        assert lines[1].startswith("  swarmlab-1  manager (leader) active  ready    10.123.0.11")
        assert lines[1].endswith("platform.db=true, platform.edge=true")
        placed = next(line for line in lines if "labshop/production backend" in line)
        assert placed.count(" running") == 2, placed
        as_json = json.loads(subprocess.run([*invoke, "--json"], capture_output=True, text=True, env=env,
                                            timeout=60).stdout)
        (service,) = as_json["services"]
        assert len({task["node"] for task in service["tasks"]}) == 2 and len(as_json["nodes"]) == 3
        not_a_manager = subprocess.run(invoke, capture_output=True, text=True, timeout=60,
                                       env={**env, "DOCKER_HOST": NODES[1]})
        assert not_a_manager.returncode == 1 and not_a_manager.stderr.strip() == (
            "error: this Docker engine is not a swarm manager: point DOCKER_HOST at a manager node, or make "
            "this one (docker swarm init)"), not_a_manager.stderr
    finally:
        subprocess.run(["docker", "-H", lab, "service", "rm", "labshop-backend-production"], capture_output=True)


def test_a_lab_whose_processes_were_killed_is_formed_anew(lab):
    """What the end of a session does to it (CI runs next): every engine and the registry killed, their
    namespaces, veth pairs and bridge left behind."""
    for node in (1, 2, 3):
        for pid in run("ip", "netns", "pids", f"swarmlab-{node}").split():
            subprocess.run(["kill", "-9", pid], capture_output=True)
    subprocess.run(["pkill", "-9", "-f", "swarmlab/registry.yml"], capture_output=True)
    assert run(str(REPO / "bin" / "start-swarm-lab"), timeout=300).strip() == lab
    hostnames = on(lab, "node", "ls", "--format", "{{.Hostname}} {{.Status}}").split("\n")
    assert sorted(line for line in hostnames if line) == ["swarmlab-1 Ready", "swarmlab-2 Ready", "swarmlab-3 Ready"]
    on(NODES[2], "pull", "--quiet", f"{REGISTRY}/demo-frontend:v1")   # the nodes' registry is back too


def test_stopping_the_lab_leaves_nothing_and_starting_again_forms_it_anew(lab):
    run(str(REPO / "bin" / "stop-swarm-lab"), timeout=300)
    assert "swarmlab-" not in run("ip", "netns", "list")
    assert subprocess.run(["ip", "link", "show", "swarmlab0"], capture_output=True).returncode != 0
    assert "/run/swarmlab/" not in run("ps", "-eo", "args")
    assert not Path("/var/lib/swarmlab").exists()
    assert run(str(REPO / "bin" / "start-swarm-lab"), timeout=300).strip() == lab
    assert run(str(REPO / "bin" / "start-swarm-lab"), timeout=60).strip() == lab   # up already: left alone
