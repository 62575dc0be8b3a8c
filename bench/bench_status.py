"""Latency of `lib/deployment-status.sh P E` against `python3 -c pass`.

    .venv/bin/python bench/bench_status.py [--runs 10]

Runs against a temporary PLATFORM_DEPLOYMENTS_DIR holding a synthetic manifest
with 10 history entries and a PLATFORM_ROOT with a one-project projects.yml.
The live-health lookup goes to the Docker engine of this environment (absent
containers are a quick answer); a second figure sets DOCKER_HOST to a missing
socket, which is the "health unknown" path.
"""

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from timing import median_seconds

REPO = Path(__file__).resolve().parents[1]
PROJECTS_YML = """\
projects:
  bench:
    domains: {production: bench.example.com, staging: staging.bench.example.com}
    containers:
      backend: {name: bench-backend, port: 3000, image: registry.example.com/bench-backend}
      frontend: {name: bench-frontend, port: 80, image: registry.example.com/bench-frontend}
"""


def entry(index: int) -> dict:
    status = "rolled_back" if index % 4 == 3 else "success"
    return {
        "deploy_id": f"2025010{index % 9 + 1}120000-{index:04x}",
        "version": f"v{10 - index}",
        "deployed_at": f"2025-01-0{index % 9 + 1}T12:00:00Z",
        "deployed_by": "github-actions",
        "git_sha": f"{index:040x}",
        "backup": f"backup_2025010{index % 9 + 1}_115900",
        "images": {role: f"registry.example.com/bench-{role}:v{10 - index}" for role in ("backend", "frontend")},
        "image_digests": {role: f"registry.example.com/bench-{role}@sha256:{index:064x}"
                          for role in ("backend", "frontend")},
        "status": status,
        "duration_seconds": 30.0 + index,
        "steps": [{"step": "5", "name": "health", "status": "failed" if status != "success" else "ok",
                   "seconds": 20.0, "detail": "bench-backend: unhealthy"}],
        "failure": "bench-backend: unhealthy" if status != "success" else None,
        "rollback": ["removed the candidates"] if status != "success" else [],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "config").mkdir()
        (root / "config" / "projects.yml").write_text(PROJECTS_YML)
        history = [entry(index) for index in range(10)]
        state = root / "deployments" / "bench" / "production"
        state.mkdir(parents=True)
        (state / "manifest.json").write_text(json.dumps({
            "project": "bench", "environment": "production", "schema_version": 2,
            "current_deployment": history[0], "last_attempt": history[0], "deployment_history": history}))
        env = dict(os.environ, PLATFORM_ROOT=str(root), PLATFORM_DEPLOYMENTS_DIR=str(root / "deployments"),
                   PLATFORM_BACKUPS_DIR=str(root / "backups"))
        shim = [str(REPO / "lib" / "deployment-status.sh"), "bench", "production"]
        baseline = median_seconds(["python3", "-c", "pass"], env, args.runs * 2)
        status = median_seconds(shim, env, args.runs)
        no_docker = median_seconds(shim, dict(env, DOCKER_HOST="unix:///nonexistent"), args.runs)
        history_view = median_seconds(shim + ["--history"], env, args.runs)

    print(f"python3 -c pass: {baseline * 1000:.0f} ms")
    for label, seconds in (("deployment-status.sh bench production", status),
                           ("  same, Docker not reachable", no_docker),
                           ("deployment-status.sh bench production --history", history_view)):
        print(f"{label}: {seconds * 1000:.0f} ms, adds {(seconds - baseline) * 1000:.0f} ms "
              f"({seconds / baseline:.1f}x python3 -c pass; target: adds < 300 ms)")


if __name__ == "__main__":
    sys.exit(main())
