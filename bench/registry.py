"""Synthetic registries for the benchmarks: N projects shaped like the DEPLOYMENT.md example."""

import yaml


def synthetic_registry(count: int) -> str:
    projects = {}
    for index in range(count):
        name = f"project-{index:04d}"
        projects[name] = {
            "domains": {"production": [f"{name}.example.com", f"www.{name}.example.com"],
                        "staging": f"staging.{name}.example.com"},
            "containers": {
                "backend": {"name": f"{name}-backend", "port": 3000,
                            "api_locations": ["/api", "/admin", "/auth"]},
                "frontend": {"name": f"{name}-frontend", "port": 80},
            },
            "nginx": {"rate_limit": {"zone": "api", "burst": 20}},
        }
    return yaml.safe_dump({"projects": projects}, sort_keys=False)
