"""A deploy must not get slower as tenants are added; nginx must cope with 1,000 of them.

    .venv/bin/python bench/bench_scale.py [--tenants 100] [--deploys 3] [--nginx-projects 1000]

1. Deploy time of one project (median of --deploys) with only it registered,
   then with --tenants projects registered, networked and running (one small
   container each), as a ratio (target <= 1.2).
2. `nginx -t` and `nginx -s reload` in platform-nginx with --nginx-projects
   generated configs.
"""

import argparse
import statistics
import subprocess
import time

import yaml
from benchstack import Quiet, bench_stack
from platform_deploy import platform_services
from platform_deploy.config import load_registry
from platform_deploy.config.load import parse_registry
from platform_deploy.deploy import pipeline
from platform_deploy.nginx import files, live
from registry import synthetic_registry
from timing import timed

FRONTEND_IMAGE = "127.0.0.1:5000/demo-frontend:v1"


def median_deploy_seconds(stack, registry, deploys: int) -> float:
    seconds = []
    for index in range(deploys):
        entry = pipeline.Deployment(stack.engine, stack.settings, registry, stack.project, "production",
                                    pipeline.Options(tag=("v2", "v3")[index % 2]), Quiet()).run()
        seconds.append(entry.duration_seconds)
    return statistics.median(seconds)


def tenant_projects(count: int, prefix: str) -> dict:
    return {f"{prefix}{index:03d}": {
        "domains": {"production": f"{prefix}{index:03d}.localhost"},
        "containers": {"frontend": {"name": f"{prefix}{index:03d}-web", "port": 80,
                                    "image": FRONTEND_IMAGE.rsplit(":", 1)[0]}},
    } for index in range(count)}


def start_tenants(stack, tenants: dict):
    for name, spec in tenants.items():
        subprocess.run(["docker", "run", "-d", "--name", f"{spec['containers']['frontend']['name']}-production",
                        "--network", f"{name}-production", "--label", f"platform.project={name}",
                        "--no-healthcheck", FRONTEND_IMAGE], check=True, capture_output=True)


def wait_tenants_running(engine, tenants: dict, timeout: float = 300) -> None:
    """Measure a settled machine, not the start-up burst of 100 containers.

    Tenants run without their image's HEALTHCHECK: 100 probes a second would be
    the benchmark's own load, not the cost of having tenants.
    """
    names = [f"{spec['containers']['frontend']['name']}-production" for spec in tenants.values()]
    deadline = time.monotonic() + timeout
    def healthy(name):
        state = engine.inspect(name)
        return state is not None and state.running

    while not all(healthy(name) for name in names):
        if time.monotonic() > deadline:
            raise RuntimeError("tenant containers not healthy in time")
        time.sleep(1)


def remove_tenants(settings, tenants: dict):
    for name in tenants:
        ids = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=platform.project={name}"],
                             capture_output=True, text=True).stdout.split()
        if ids:
            subprocess.run(["docker", "rm", "-f", *ids], capture_output=True)
        network = f"{name}-production"
        for service in (settings.nginx_container, settings.postgres_container):  # attached by platform.up
            subprocess.run(["docker", "network", "disconnect", "-f", network, service], capture_output=True)
        subprocess.run(["docker", "network", "rm", network], capture_output=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--deploys", type=int, default=3)
    parser.add_argument("--nginx-projects", type=int, default=1000)
    args = parser.parse_args()

    with bench_stack() as stack:
        settings = stack.settings
        pipeline.Deployment(stack.engine, settings, stack.registry, stack.project, "production",
                            pipeline.Options(tag="v1"), Quiet()).run()
        alone = median_deploy_seconds(stack, stack.registry, args.deploys)

        tenants = tenant_projects(args.tenants - 1, f"t{stack.project[-6:]}-")
        original = settings.projects_file.read_text()
        data = yaml.safe_load(original)
        data["projects"].update(tenants)
        settings.projects_file.write_text(yaml.safe_dump(data))
        registry = load_registry(settings.projects_file)
        try:
            attach = timed(lambda: platform_services.attach_project_networks(stack.engine, settings, registry))
            start_tenants(stack, tenants)
            wait_tenants_running(stack.engine, tenants)
            time.sleep(5)
            live.generate_and_reload(stack.engine, settings, registry)
            crowded = median_deploy_seconds(stack, registry, args.deploys)
        finally:
            remove_tenants(settings, tenants)
            settings.projects_file.write_text(original)

        many = parse_registry(synthetic_registry(args.nginx_projects).encode())
        files.apply(settings, files.plan(settings, many))
        nginx_t = timed(lambda: live.test_config(stack.engine, settings))
        reload_seconds = timed(lambda: live.reload(stack.engine, settings))
        served = len(list(settings.conf_dir.glob("*.conf")))
        files.apply(settings, files.plan(settings, stack.registry))
        live.reload(stack.engine, settings)

    running = args.tenants
    print(f"deploy of one project, 1 project registered: {alone:.2f} s (median of {args.deploys})")
    print(f"deploy of one project, {running} projects registered and running: {crowded:.2f} s")
    print(f"ratio: {crowded / alone:.2f} (target <= 1.2)")
    print(f"attaching nginx and postgres to {running - 1} new project networks: {attach:.1f} s (platform.up)")
    print(f"nginx -t with {served} generated configs: {nginx_t:.2f} s; nginx -s reload: {reload_seconds:.2f} s")


if __name__ == "__main__":
    main()
