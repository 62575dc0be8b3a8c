"""Deploy time per step and the tool's own overhead, beside the original's core step.

    .venv/bin/python bench/bench_deploy.py [--deploys 5]

Starts its own platform copy (bench-* containers, nginx on a free loopback
port), deploys the demo project (two containers, healthy within a second)
alternating v2/v3, and prints per-step medians. Overhead is the total minus
the time spent waiting on containers (migrations, health, smoke tests) and on
the switch's deliberate DNS turnover and drain. The same two containers are
then replaced with `docker-compose up -d --force-recreate` (what the original
did, with downtime) and waited for until healthy, for the ratio.
Needs bin/start-registry and bin/build-demo-images to have run.
"""

import argparse
import statistics
import subprocess
import time

from benchstack import BenchStack, Quiet, bench_stack
from platform_deploy.deploy import pipeline, switch

WAITING_STEPS = ("migrations", "health", "smoke tests")
COMPOSE_TEMPLATE = """\
version: "2.4"
services:
  backend:
    image: 127.0.0.1:5000/demo-backend:{tag}
    container_name: {prefix}-backend
    env_file: {env_file}
    networks: [net]
  frontend:
    image: 127.0.0.1:5000/demo-frontend:{tag}
    container_name: {prefix}-frontend
    networks: [net]
networks:
  net:
    external: true
    name: {network}
"""


def timed_compose_recreate(stack: BenchStack, tag: str, prefix: str) -> float:
    compose_file = stack.settings.root / "compose-bench.yml"
    compose_file.write_text(COMPOSE_TEMPLATE.format(
        tag=tag, prefix=prefix, network=f"{stack.project}-production", env_file=stack.env_file))
    command = ["docker-compose", "-f", str(compose_file), "-p", prefix, "up", "-d", "--force-recreate"]
    started = time.monotonic()
    subprocess.run(command, check=True, capture_output=True)
    for name in (f"{prefix}-backend", f"{prefix}-frontend"):
        while getattr(stack.engine.inspect(name), "health", None) != "healthy":
            if time.monotonic() - started > 120:
                raise RuntimeError(f"{name} not healthy")
            time.sleep(0.1)
    return time.monotonic() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deploys", type=int, default=5)
    args = parser.parse_args()
    with bench_stack() as stack:
        runs = []
        for index in range(args.deploys + 1):
            tag = ("v1", "v2", "v3")[min(index, 1 + index % 2)]
            entry = pipeline.Deployment(stack.engine, stack.settings, stack.registry, stack.project, "production",
                                        pipeline.Options(tag=tag), Quiet()).run()
            if index:  # the first deploy only creates the live version
                runs.append(entry.to_json())
        prefix = f"bench-compose-{stack.project}"
        try:
            compose_times = [timed_compose_recreate(stack, tag, prefix) for tag in ("v2", "v3", "v2")]
        finally:
            subprocess.run(["docker", "rm", "-f", f"{prefix}-backend", f"{prefix}-frontend"], capture_output=True)

    print(f"deploys measured: {len(runs)} (demo project, 2 containers, v2 <-> v3)")
    names = [step["name"] for step in runs[0]["steps"]]
    for name in names:
        seconds = statistics.median(next(s["seconds"] for s in run["steps"] if s["name"] == name) for run in runs)
        print(f"  {name:<17} {seconds:6.2f} s")
    totals = [run["duration_seconds"] for run in runs]
    dns_wait = switch.DNS_SETTLE_SECONDS   # one turnover before the old containers drain
    overheads = []
    for run in runs:
        waiting = sum(s["seconds"] for s in run["steps"] if s["name"] in WAITING_STEPS) + dns_wait
        overheads.append(run["duration_seconds"] - waiting)
    total, overhead, compose = statistics.median(totals), statistics.median(overheads), statistics.median(compose_times)
    print(f"whole deploy (median): {total:.2f} s (target < 10 s)")
    print(f"tool overhead (total - container waits - {dns_wait:.1f} s DNS turnover): {overhead:.2f} s (target < 2 s)")
    print(f"docker-compose up -d --force-recreate + healthy (median of 3): {compose:.2f} s, with downtime")
    print(f"ratio deploy / compose recreate: {total / compose:.1f}x")


if __name__ == "__main__":
    main()
