"""Deploy time and failed requests on the three-node swarm lab against one host, same project, same run; then
the lab with 30 tenants.

    .venv/bin/python bench/bench_swarm.py [--deploys 4] [--tenants 30]

1. One host (bench_stack: its own platform copy, nginx on a free loopback port): the demo project, deployed
   v2 <-> v3 --deploys times under load; median deploy (pre-flight to manifest), median switch step, failed
   requests, p99 latency.
2. The lab (bin/start-swarm-lab, started fresh; node1 is its edge and database node): the same project with
   the frontend's 3 tasks and the backend's 2 spread over the nodes, deployed the same way by `invoke deploy`
   with the same load through the edge node.
3. Scale: --tenants projects (one frontend task each) added to the lab's projects.yml, `platform.up`, their
   first deploys, the tasks per node, then the demo's deploys again under load, as a ratio to step 2.

The lab's three engines share this machine's cores, where real nodes would not: its figures are an upper
bound. The load is 6 clients at 15 requests a second each, on both sides. Stops the lab at the end. Needs
bin/setup (the registry, the demo's and the platform's images).
"""

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import swarmlab
import yaml
from benchstack import Quiet, bench_stack
from loadgen import Load, LoadProcess
from platform_deploy.deploy import pipeline
from timing import timed

SWITCH = "switch traffic"
# Requests a second per client (6 clients): what the lab serves with 30 tenants' health checks on 2 cores.
# At the load generator's default of 50, its clients fell behind their schedule there (80 of 300 a second)
# and the latency measured was the backlog's.
RATE = 15


def step_seconds(entry: dict, name: str) -> float:
    return next(step["seconds"] for step in entry["steps"] if step["name"] == name)


def summary(label: str, entries: list[dict], result) -> str:
    total = statistics.median(entry["duration_seconds"] for entry in entries)
    switch = statistics.median(step_seconds(entry, SWITCH) for entry in entries)
    return (f"  {label:<34} deploy {total:6.2f} s, switch {switch:5.2f} s (medians of {len(entries)}); "
            f"{result.failed} failed of {result.ok + result.failed} requests, "
            f"p99 {result.percentile(0.99) * 1000:.0f} ms")


def one_host(deploys: int) -> tuple[list[dict], object]:
    with bench_stack() as stack:
        def deploy(tag):
            return pipeline.Deployment(stack.engine, stack.settings, stack.registry, stack.project, "production",
                                       pipeline.Options(tag=tag), Quiet()).run().to_json()

        deploy("v1")
        with LoadProcess(stack.http_port, stack.host, post_path="/api/items", rate_per_client=RATE,
                         max_seconds=600) as load:
            entries = [deploy(("v2", "v3")[index % 2]) for index in range(deploys)]
    return entries, load.result


def lab_deploys(env, deploys: int, project: str = "demo") -> tuple[list[dict], object]:
    manifest = Path(env["PLATFORM_DEPLOYMENTS_DIR"]) / project / "production" / "manifest.json"
    entries = []
    with Load(80, f"{project}.localhost", post_path="/api/items", rate_per_client=RATE, max_seconds=600,
              address=swarmlab.EDGE) as load:
        for index in range(deploys):
            swarmlab.invoke_ok(env, "deploy", "--project", project, "--env", "production", "--tag",
                               ("v2", "v3")[index % 2])
            entries.append(json.loads(manifest.read_text())["current_deployment"])
    return entries, load.result


def add_tenants(root: Path, count: int) -> list[str]:
    """``count`` projects of one frontend task each in the lab's projects.yml, each with its (empty) env file."""
    projects_file = root / "config" / "projects.yml"
    projects = yaml.safe_load(projects_file.read_text())
    names = [f"tenant{index:02d}" for index in range(count)]
    for name in names:
        projects["projects"][name] = {
            "domains": {"production": f"{name}.localhost"},
            "containers": {"frontend": {"name": f"{name}-web", "port": 80,
                                        "image": f"{swarmlab.LAB_REGISTRY}/demo-frontend"}}}
        env_file = root / "config" / name / ".env.production"
        env_file.parent.mkdir(parents=True)
        env_file.touch(mode=0o600)
    projects_file.write_text(yaml.safe_dump(projects))
    return names


def tasks_per_node() -> list[int]:
    nodes = swarmlab.on_lab("node", "ls", "--format", "{{.Hostname}}").split()
    return [len(swarmlab.on_lab("node", "ps", node, "--filter", "desired-state=running", "--quiet").split())
            for node in sorted(nodes)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deploys", type=int, default=4)
    parser.add_argument("--tenants", type=int, default=30)
    args = parser.parse_args()

    host_entries, host_load = one_host(args.deploys)
    swarmlab.start_fresh_lab(demo_tags=("v1", "v2", "v3"))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            env = swarmlab.demo_root(root, {"frontend": 3, "backend": 2})
            swarmlab.invoke_ok(env, "platform.up")
            swarmlab.invoke_ok(env, "deploy", "--project", "demo", "--env", "production", "--tag", "v1")
            lab_entries, lab_load = lab_deploys(env, args.deploys)

            tenants = add_tenants(root, args.tenants)
            up_seconds = timed(lambda: swarmlab.invoke_ok(env, "platform.up"))
            first_deploys = [timed(lambda: swarmlab.invoke_ok(env, "deploy", "--project", name, "--env",
                                                              "production", "--tag", "v1")) for name in tenants]
            spread = tasks_per_node()
            crowded_entries, crowded_load = lab_deploys(env, args.deploys)
    finally:
        swarmlab.stop_lab()

    print(f"the demo project (2 roles, migrations), deployed v2 <-> v3 {args.deploys} times under load:")
    print(summary("one host (1 container per role)", host_entries, host_load))
    print(summary("3-node lab (3 + 2 tasks)", lab_entries, lab_load))
    host = statistics.median(entry["duration_seconds"] for entry in host_entries)
    lab = statistics.median(entry["duration_seconds"] for entry in lab_entries)
    print(f"  ratio lab / one host: {lab / host:.1f}x")
    print(f"{args.tenants} tenants added on the lab:")
    print(f"  platform.up (their overlays, nginx and postgres joined): {up_seconds:.1f} s")
    print(f"  their first deploys: {sum(first_deploys):.1f} s in all, median {statistics.median(first_deploys):.2f} s")
    print(f"  running tasks per node: {'/'.join(map(str, spread))}")
    print(summary(f"3-node lab with {args.tenants} tenants", crowded_entries, crowded_load))
    crowded = statistics.median(entry["duration_seconds"] for entry in crowded_entries)
    print(f"  ratio with / without tenants: {crowded / lab:.2f}x")


if __name__ == "__main__":
    main()
