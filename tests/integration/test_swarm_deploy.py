"""The deploy on a swarm (PLATFORM_ENGINE=swarm), on the three-node lab of bin/start-swarm-lab, as a user runs it:
`invoke platform.up` then `invoke deploy`, with DOCKER_HOST on the manager.

The lab's manager (node1) is its edge and database node: platform-nginx publishes port 80 there, on
10.123.0.11, where the load goes (the lab's own address, on a bridge made for it). Images come from the
local registry, which the nodes reach as 10.123.0.1:5000. PLATFORM_TESTS_SWARM=0 skips these tests.
"""

import json
import os
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml
from loadgen import Load
from swarmlab import EDGE, INVOKE, LAB_REGISTRY, MANAGER, NODES, REPO, demo_root, deploy, invoke, invoke_ok, ok, \
    on_lab, run, start_fresh_lab, stop_lab

from deploy_support import demo_images  # noqa: F401 - a fixture

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(os.environ.get("PLATFORM_TESTS_SWARM") == "0", reason="PLATFORM_TESTS_SWARM=0")]

DOMAIN = "demo.localhost"


@pytest.fixture(scope="module")
def lab(demo_images, platform_images):  # noqa: F811 - fixtures
    """A fresh lab with the platform's images in the registry its nodes pull from."""
    start_fresh_lab()
    yield MANAGER
    stop_lab()


@pytest.fixture(scope="module")
def swarm_root(lab, tmp_path_factory):
    """A platform root for the demo project on the lab, and the environment `invoke` runs in."""
    root = tmp_path_factory.mktemp("swarm-root")
    env = demo_root(root, {"frontend": 3, "backend": 2})
    invoke_ok(env, "platform.up")
    return root, env


def on_v2(env) -> None:
    """Tests that deploy v3 or a failing version start from v2."""
    if serving(env).get("version") != "v2":
        back = deploy(env, "v2")
        assert back.returncode == 0, back.stdout + back.stderr


def watched_deploy(env, tag: str, on_line) -> tuple[subprocess.Popen, list[str]]:
    """A deploy as a subprocess, each line of its output handed to ``on_line(line, process)`` as it comes (True:
    stop reading); returns the ended process and the lines read."""
    argv = [str(INVOKE), "--search-root", str(REPO), "deploy", "--project", "demo",
            "--env", "production", "--tag", tag]
    process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in process.stdout:
        lines.append(line)
        if on_line(line, process):
            break
    process.wait(timeout=600)
    return process, lines


def load() -> Load:
    return Load(80, DOMAIN, paths=("/", "/api/version"), post_path="/api/items", max_seconds=240, address=EDGE)


def postgres(sql: str) -> str:
    """``sql`` run in the demo database, in postgres-platform's task on the manager."""
    task = on_lab("ps", "--quiet", "--filter", "label=com.docker.swarm.service.name=postgres-platform").split()[0]
    return on_lab("exec", task, "psql", "-U", "postgres", "-d", "demo_production", "-tAc", sql).strip()


def revision() -> str:
    return postgres("SELECT version_num FROM alembic_version")


def app_errors() -> str:
    """The demo backend's last error lines, for a failed request's message."""
    logs = run("docker", "-H", MANAGER, "service", "logs", "--raw", "demo-backend-production").stderr
    return "\n".join(line for line in logs.splitlines() if "rror" in line or "500" in line)[-3000:]


def serving(env) -> dict:
    """The manifest's current deployment ({} before the first)."""
    path = Path(env["PLATFORM_DEPLOYMENTS_DIR"]) / "demo" / "production" / "manifest.json"
    return json.loads(path.read_text())["current_deployment"] if path.exists() else {}


def job_containers(wait: float = 30) -> list[str]:
    """The containers of ended jobs (migrations, nginx's files) still on the nodes once ``wait`` seconds have
    passed: each node removes a removed service's containers within seconds."""
    deadline = time.monotonic() + wait
    while True:
        found = [f"{node}: {name}" for node in NODES for name in ok(
            "docker", "-H", node, "ps", "--all", "--format", '{{.Label "com.docker.swarm.service.name"}}').split()
            if "-job-" in name or name.startswith("platform-nginx-files-")]
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(1)


def running_nodes(service: str) -> list[str]:
    return sorted(on_lab("service", "ps", service, "--filter", "desired-state=running", "--format",
                         "{{.Node}}").split())


def test_deploys_under_load_through_the_edge_node_without_a_failed_request(swarm_root):
    root, env = swarm_root
    first = deploy(env, "v1")
    assert first.returncode == 0, first.stdout + first.stderr
    assert revision() == "0001"
    with load() as traffic:
        second = deploy(env, "v2")
        time.sleep(3)   # users of the new version
    assert second.returncode == 0, second.stdout + second.stderr
    result = traffic.result
    assert result.failed == 0, (result.reasons, result.failures[:5], app_errors())
    assert result.ok > 500 and result.versions["v2"] > 0, (result.ok, result.versions)
    assert revision() == "0002"
    assert serving(env)["version"] == "v2"
    assert len(running_nodes("demo-frontend-production")) == 3
    assert len(set(running_nodes("demo-frontend-production"))) >= 2, "replicas spread over the nodes"
    images = on_lab("service", "inspect", "demo-backend-production", "demo-frontend-production", "--format",
                    "{{.Spec.TaskTemplate.ContainerSpec.Image}}").split()
    assert [image.split("@")[0] for image in images] == [f"{LAB_REGISTRY}/demo-backend:v2",
                                                         f"{LAB_REGISTRY}/demo-frontend:v2"]
    assert all(image.split("@")[1].startswith("sha256:") for image in images), "pinned by digest"
    leftovers = [name for name in on_lab("service", "ls", "--format", "{{.Name}}").split() if "-next-" in name]
    assert leftovers == []
    assert job_containers() == [], "the migrations' job containers are removed on every node"


@pytest.mark.parametrize("tag, failed_step", [("broken-health", "health"), ("broken-smoke", "smoke tests"),
                                              ("broken-migration", "migrations")])
def test_a_failing_deploy_rolls_back_with_the_old_tasks_serving(swarm_root, tag, failed_step):
    root, env = swarm_root
    on_v2(env)
    with load() as traffic:
        failed = deploy(env, tag)
    assert failed.returncode == 1
    assert f"{failed_step}" in failed.stdout and "FAILED" in failed.stdout, failed.stdout
    assert "rolled back" in failed.stderr, failed.stderr
    assert traffic.result.failed == 0, traffic.result.reasons
    assert set(traffic.result.versions) == {"v2"}
    assert revision() == "0002"
    assert serving(env)["version"] == "v2"
    leftovers = [name for name in on_lab("service", "ls", "--format", "{{.Name}}").split()
                 if "-next-" in name or "-job-" in name]
    assert leftovers == []


# Each journal phase: pull, start (the candidates starting), migrate (health checks running), switching (the
# live services rolling), switched (the switch confirmed).
@pytest.mark.parametrize("after_step, pause", [("backup", 0.0), ("start candidates", 0.0), ("migrations", 0.0),
                                               ("smoke tests", 0.5), ("switch traffic", 0.0)])
def test_a_deploy_killed_midway_is_undone_by_recover_while_the_old_tasks_serve(swarm_root, after_step, pause):
    """SIGKILL right after a step's line, then `deploy.recover`: the live version serves throughout and after,
    the database revision is what it was; a deploy killed after its switch was confirmed is finished instead."""
    root, env = swarm_root
    on_v2(env)

    def kill_after_the_step(line, process):
        if f"] {after_step}" in line and " OK " in line:
            time.sleep(pause)
            process.kill()
            return True
        return False

    with load() as traffic:
        process, seen = watched_deploy(env, "v3", kill_after_the_step)
        assert process.returncode == -9, "".join(seen)
        recovered = invoke(env, "deploy.recover", "--project", "demo", "--env", "production")
        time.sleep(3)
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    assert traffic.result.failed == 0, (traffic.result.reasons, traffic.result.failures[:5])
    live = on_lab("service", "inspect", "demo-backend-production", "--format",
                  "{{.Spec.TaskTemplate.ContainerSpec.Image}}")
    if after_step == "switch traffic":   # the switch was confirmed: finished, by recover or by the deploy itself
        assert "finished the switch" in recovered.stdout or "no interrupted deploy" in recovered.stdout, \
            recovered.stdout
        assert "demo-backend:v3@" in live
    else:
        # Killed right after the backup, the deploy may not have journaled its pull yet: nothing to undo then.
        nothing_yet = after_step == "backup" and "no interrupted deploy" in recovered.stdout
        assert "found interrupted deploy" in recovered.stdout or nothing_yet, recovered.stdout
        assert "demo-backend:v2@" in live, recovered.stdout
        assert revision() == "0002"
        if after_step != "smoke tests":   # killed while rolling, the new version may have answered a while
            assert set(traffic.result.versions) == {"v2"}, traffic.result.versions
    leftovers = [name for name in on_lab("service", "ls", "--format", "{{.Name}}").split()
                 if "-next-" in name or "-job-" in name]
    assert leftovers == []


def test_a_backup_is_restored_with_its_database_while_the_site_serves(swarm_root):
    """`invoke backup.restore --with-database` on a swarm: the backup taken before a v3 deploy brings back
    v2's images on every node (by the digests it recorded) and v2's database, under load (GETs: the database is
    replaced meanwhile, and writes made after the backup are meant to go)."""
    root, env = swarm_root
    on_v2(env)
    projects_file = root / "config" / "projects.yml"
    kept = projects_file.read_text()
    projects = yaml.safe_load(kept)   # no backend task on the manager, where backups are made
    projects["projects"]["demo"]["containers"]["backend"]["placement"] = ["node.role == worker"]
    projects_file.write_text(yaml.safe_dump(projects))
    try:
        forward = deploy(env, "v3")
        assert forward.returncode == 0, forward.stdout + forward.stderr
        assert "swarmlab-1" not in running_nodes("demo-backend-production")
        restore_v2_under_load(root, env)
    finally:
        projects_file.write_text(kept)


def restore_v2_under_load(root, env) -> None:
    backup = serving(env)["backup"]   # taken while v2 was live
    recorded = json.loads((root / "backups" / "demo" / "production" / f"{backup}.meta").read_text())["images"]
    postgres('SET ROLE "demo"; CREATE TABLE stray (id int)')   # as the app's role, like a later migration
    with Load(80, DOMAIN, paths=("/", "/api/version"), max_seconds=240, address=EDGE) as traffic:
        restored = invoke(env, "backup.restore", "--project", "demo", "--env", "production", "--backup", backup,
                          "--with-database")
        time.sleep(3)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert traffic.result.failed == 0, (traffic.result.reasons, traffic.result.failures[:5])
    assert traffic.result.versions["v2"] > 0, traffic.result.versions
    current = serving(env)
    assert current["restored_from"] == backup and current["status"] == "success"
    saved = json.loads((root / "backups" / "demo" / "production" / f"{current['backup']}.meta").read_text())
    assert saved["reason"] == "pre-restore" and "demo-backend:v3@" in saved["images"]["backend"]["was"], saved
    for role, service in (("backend", "demo-backend-production"), ("frontend", "demo-frontend-production")):
        image = on_lab("service", "inspect", service, "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}}")
        assert image.split("@")[1].strip() == recorded[role]["digest"].split("@")[1], (image, recorded[role])
    assert "stray" not in postgres("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    assert revision() == "0002"


def test_a_role_with_a_volume_runs_on_the_database_node_where_its_backup_is_made_and_restored(swarm_root):
    """A backend with a volume (one task) is pinned to the platform.db node; `backup.create` archives the
    volume there and `backup.restore` writes it back there, as on one host."""
    root, env = swarm_root
    projects_file = root / "config" / "projects.yml"
    kept = projects_file.read_text()
    projects = yaml.safe_load(kept)
    projects["projects"]["demo"]["containers"]["backend"].update(replicas=1, volumes={"demo-data": "/data"})
    projects_file.write_text(yaml.safe_dump(projects))
    try:
        with_volume = deploy(env, "v2")
        assert with_volume.returncode == 0, with_volume.stdout + with_volume.stderr
        assert running_nodes("demo-backend-production") == ["swarmlab-1"]
        in_backend("echo before > /data/marker")
        made = invoke(env, "backup.create", "--project", "demo", "--env", "production")
        assert made.returncode == 0, made.stdout + made.stderr
        backup = sorted((root / "backups" / "demo" / "production").glob("backup_*.meta"))[-1].stem
        assert "demo-data-production" in json.loads((root / "backups" / "demo" / "production" /
                                                     f"{backup}.meta").read_text())["volumes"]
        in_backend("echo after > /data/marker")
        restored = invoke(env, "backup.restore", "--project", "demo", "--env", "production", "--backup", backup)
        assert restored.returncode == 0, restored.stdout + restored.stderr
        assert in_backend("cat /data/marker") == "before"
    finally:
        projects_file.write_text(kept)


def in_backend(script: str) -> str:
    """``script`` run as root in the demo backend's task on the manager."""
    task = on_lab("ps", "--quiet", "--filter", "label=com.docker.swarm.service.name=demo-backend-production",
                  "--filter", "status=running").split()[0]
    return on_lab("exec", "-u", "0", task, "sh", "-c", script).strip()


def test_staging_cannot_reach_production_across_nodes(swarm_root):
    """From a worker node: a container on production's overlay reaches production's tasks (the probe works);
    on staging's overlay it neither resolves production's name nor reaches its tasks' addresses."""
    worker = "unix:///run/swarmlab/node2.sock"
    image = f"{LAB_REGISTRY}/demo-frontend:v2"
    deadline = time.monotonic() + 30   # a task the last deploy replaced leaves the name's answers by gossip
    while True:
        addresses = ok("docker", "-H", worker, "run", "--rm", "--network", "demo-production", image, "sh", "-c",
                       "getent ahostsv4 tasks.demo-frontend-production | awk '{print $1}' | sort -u").split()
        if len(addresses) == 3 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert len(addresses) == 3, addresses
    probe = ("for ip in $0 $1 $2; do code=$(curl -s -m 3 -o /dev/null -w '%{http_code}' http://$ip/health) "
             "&& echo reached $code || echo unreachable; done; "
             "getent hosts demo-frontend-production || echo unresolved")
    from_production = ok("docker", "-H", worker, "run", "--rm", "--network", "demo-production", image,
                         "sh", "-c", probe, *addresses)
    assert from_production.count("reached 200") == 3, from_production
    from_staging = ok("docker", "-H", worker, "run", "--rm", "--network", "demo-staging", image,
                      "sh", "-c", probe, *addresses)
    assert "reached" not in from_staging and from_staging.count("unreachable") == 3, from_staging
    assert "unresolved" in from_staging


SECOND_EDGE = "10.123.0.12"


def answer(edge: str, host: str) -> str:
    """The status code an edge node's nginx gives for / with this Host (curl from the host to the lab)."""
    return run("curl", "-s", "-o", "/dev/null", "-m", "5", "-w", "%{http_code}", "-H", f"Host: {host}",
               f"http://{edge}/").stdout


def test_nginx_config_changes_reach_every_edge_node_tested_first_and_reloaded_without_a_failed_request(swarm_root):
    """node2 becomes an edge node: platform.up gives it nginx's files; a new domain then reaches both edges
    under load on both (0 failed); a snippet nginx refuses changes no edge node and restores the files."""
    root, env = swarm_root
    on_lab("node", "update", "--label-add", "platform.edge=true", "swarmlab-2")
    invoke_ok(env, "platform.up")
    assert answer(SECOND_EDGE, DOMAIN) == "200"

    projects_file = root / "config" / "projects.yml"
    projects = yaml.safe_load(projects_file.read_text())
    projects["projects"]["demo"]["domains"]["production"] = [DOMAIN, f"www.{DOMAIN}"]
    projects_file.write_text(yaml.safe_dump(projects))
    first, second = load(), Load(80, DOMAIN, paths=("/", "/api/version"), max_seconds=240, address=SECOND_EDGE)
    with first, second:
        reloaded = invoke(env, "nginx.reload")
        time.sleep(2)
    assert reloaded.returncode == 0, reloaded.stdout + reloaded.stderr
    for traffic in (first.result, second.result):
        assert traffic.failed == 0 and traffic.ok > 100, (traffic.ok, traffic.reasons)
    assert [answer(edge, f"www.{DOMAIN}") for edge in (EDGE, SECOND_EDGE)] == ["200", "200"]

    snippet = root / "platform" / "nginx" / "snippets" / "security-headers.conf"
    kept, conf = snippet.read_text(), root / "platform" / "nginx" / "conf.d" / "demo.localhost.conf"
    generated = conf.read_text()
    snippet.write_text(kept + "no_such_directive on;\n")
    projects["projects"]["demo"]["domains"]["production"] = [DOMAIN]
    projects_file.write_text(yaml.safe_dump(projects))
    refused = invoke(env, "nginx.reload")
    snippet.write_text(kept)
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: nginx on an edge node rejected the configuration: swarmlab-"), \
        refused.stderr
    assert "previous files restored" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    assert conf.read_text() == generated
    assert [answer(edge, f"www.{DOMAIN}") for edge in (EDGE, SECOND_EDGE)] == ["200", "200"], "running config kept"
    fixed = invoke(env, "nginx.reload")   # the snippet is right again: the change goes through
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert [answer(edge, DOMAIN) for edge in (EDGE, SECOND_EDGE)] == ["200", "200"]
    assert job_containers() == [], "the check and apply jobs' containers are removed on every edge node"


NODE_LOSS_WINDOW = 30   # seconds after a node's engine dies in which its tasks may fail requests


def test_a_worker_engine_killed_during_a_deploy_the_site_serves_and_the_node_drained_deploys_go_on(swarm_root):
    """Runs last: it leaves node3 down. Requests that land on node3's tasks may fail until the swarm has
    noticed (its tasks' DNS resolver lived in that engine); the rest of the site serves throughout, none fails
    after NODE_LOSS_WINDOW, the deploy finishes or rolls back, and once the dead node is drained the next deploy
    succeeds."""
    root, env = swarm_root
    on_v2(env)
    killed_at = None

    def kill_node3_once_candidates_start(line, process):
        nonlocal killed_at
        if "] start candidates" in line:
            ok("kill", "-KILL", Path("/run/swarmlab/node3.pid").read_text().strip())
            killed_at = time.monotonic()
        return False

    with load() as traffic:
        process, output = watched_deploy(env, "v3", kill_node3_once_candidates_start)
        time.sleep(3)
    shown, result = "".join(output), traffic.result
    assert process.returncode in (0, 1) and killed_at is not None, shown
    assert "deployed demo/production 'v3'" in shown or "rolled back" in shown, shown
    late = [(round(due - killed_at, 1), reason) for due, reason in result.failures
            if due > killed_at + NODE_LOSS_WINDOW]
    assert late == [], late
    # The site serves throughout: every second after the kill answered requests (other nodes' tasks).
    failed_at = Counter(int(due - killed_at) for due, _ in result.failures)
    sent_at = Counter(int(due - killed_at) for due, _ in result.latencies if due >= killed_at)
    silent = [second for second in range(max(sent_at, default=0)) if sent_at[second] <= failed_at[second]]
    assert silent == [], (silent, result.reasons)
    print(f"worker killed: {result.failed} of {result.ok + result.failed} requests failed, within "
          f"{max((due - killed_at for due, _ in result.failures), default=0):.1f} s of the kill; deploy: "
          f"{'deployed' if process.returncode == 0 else 'rolled back'}")
    on_lab("node", "update", "--availability", "drain", "swarmlab-3")
    again = deploy(env, "v2" if process.returncode == 0 else "v3")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "swarmlab-3" not in running_nodes("demo-frontend-production")
