"""Deploy time per step and the tool's own overhead, beside the original's core step.

    .venv/bin/python bench/bench_deploy.py [--deploys 5] [--sigterm-rounds 2]

Starts its own platform copy (bench-* containers, nginx on a free loopback
port), deploys the demo project (two containers, healthy within a second)
alternating v2/v3, and prints per-step medians. Overhead is the total minus
the time spent waiting on containers (migrations, health, smoke tests). The same two containers are
then replaced with `docker-compose up -d --force-recreate` (what the original
did, with downtime) and waited for until healthy, for the ratio.

Last, under load: the demo app (which honours SIGTERM) is replaced by our deploy,
then an app whose PID 1 ignores SIGTERM (demo tag ignore-term), the same number
of times each way: by our deploy, then by `docker-compose up -d --force-recreate`
of containers with the live names (what the original did). Each way prints its
median time and the requests that failed; the first two rows compare the apps
under the same load.
Needs bin/start-registry and bin/build-demo-images to have run.
"""

import argparse
import statistics
import subprocess
import time

from benchstack import BenchStack, Quiet, bench_stack
from loadgen import LoadProcess
from platform_deploy.deploy import pipeline

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


IGNORES_SIGTERM = "ignore-term"
LIVE_COMPOSE_TEMPLATE = """\
version: "2.4"
services:
  backend:
    image: 127.0.0.1:5000/demo-backend:{tag}
    container_name: {project}-backend-production
    env_file: {env_file}
    labels: {{platform.project: {project}}}
    networks: [net]
  frontend:
    image: 127.0.0.1:5000/demo-frontend:{tag}
    container_name: {project}-frontend-production
    labels: {{platform.project: {project}}}
    networks: [net]
networks:
  net:
    external: true
    name: {project}-production
"""


def replace_under_load(stack: BenchStack, replace, rounds: int) -> tuple[float, int, int]:
    """(median seconds, failed requests, requests) of ``replace()`` with load through nginx meanwhile.

    ``replace()`` returns the seconds it took, or None to take its wall time.
    """
    seconds = []
    with LoadProcess(stack.http_port, stack.host, post_path="/api/items", rate_per_client=25,
                     max_seconds=600) as load:
        time.sleep(2)
        for _ in range(rounds):
            started = time.monotonic()
            took = replace()
            seconds.append(took if took is not None else time.monotonic() - started)
            time.sleep(3)   # the load settling between rounds
    return statistics.median(seconds), load.result.failed, load.result.ok + load.result.failed


def sigterm_ignoring_app(stack: BenchStack, rounds: int) -> list[str]:
    """Under load, ``rounds`` times each: replace the demo app our way, then an app that ignores SIGTERM our
    way and compose's; the figures."""
    tags = iter(("v2", "v3") * rounds)

    def deploy(tag):   # pre-flight to manifest, as reported; retiring the old containers comes after
        deployment = pipeline.Deployment(stack.engine, stack.settings, stack.registry, stack.project, "production",
                                         pipeline.Options(tag=tag, skip_backup=True), Quiet())
        return deployment.run().duration_seconds

    compose_file = stack.settings.root / "compose-live.yml"
    compose_file.write_text(LIVE_COMPOSE_TEMPLATE.format(tag=IGNORES_SIGTERM, project=stack.project,
                                                         env_file=stack.env_file))

    def compose():
        subprocess.run(["docker-compose", "-f", str(compose_file), "-p", f"bench-live-{stack.project}", "up", "-d",
                        "--force-recreate"], check=True, capture_output=True)
        for role in ("backend", "frontend"):
            name = f"{stack.project}-{role}-production"
            while getattr(stack.engine.inspect(name), "health", None) != "healthy":
                time.sleep(0.1)

    lines = [f"under load, {rounds} times each:"]
    median, failed, total = replace_under_load(stack, lambda: deploy(next(tags)), rounds)
    lines.append(f"  {'ours, the demo app (honours SIGTERM)':<48} {median:6.2f} s median, {failed} failed of {total} "
                 "requests")
    deploy(IGNORES_SIGTERM)   # the live version ignores SIGTERM from here on
    for label, replace in (("ours, an app that ignores SIGTERM", lambda: deploy(IGNORES_SIGTERM)),
                           ("docker-compose up -d --force-recreate, same app", compose)):
        if label.startswith("docker-compose"):
            for role in ("backend", "frontend"):   # compose takes over the live names
                subprocess.run(["docker", "rm", "-f", f"{stack.project}-{role}-production"], capture_output=True)
            compose()
        median, failed, total = replace_under_load(stack, replace, rounds)
        lines.append(f"  {label:<48} {median:6.2f} s median, {failed} failed of {total} requests")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deploys", type=int, default=5)
    parser.add_argument("--sigterm-rounds", type=int, default=2)
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
        sigterm_lines = sigterm_ignoring_app(stack, args.sigterm_rounds)

    print(f"deploys measured: {len(runs)} (demo project, 2 containers, v2 <-> v3)")
    names = [step["name"] for step in runs[0]["steps"]]
    for name in names:
        seconds = statistics.median(next(s["seconds"] for s in run["steps"] if s["name"] == name) for run in runs)
        print(f"  {name:<17} {seconds:6.2f} s")
    totals = [run["duration_seconds"] for run in runs]
    overheads = [run["duration_seconds"] - sum(s["seconds"] for s in run["steps"] if s["name"] in WAITING_STEPS)
                 for run in runs]
    total, overhead, compose = statistics.median(totals), statistics.median(overheads), statistics.median(compose_times)
    print(f"whole deploy (median): {total:.2f} s (target < 4 s)")
    print(f"tool overhead (total - container waits): {overhead:.2f} s (target < 2 s)")
    print(f"docker-compose up -d --force-recreate + healthy (median of 3): {compose:.2f} s, with downtime")
    print(f"ratio deploy / compose recreate: {total / compose:.1f}x")
    print("\n".join(sigterm_lines))


if __name__ == "__main__":
    main()
