"""The import rules of docs/ARCHITECTURE.md, read from the source (every import, at any depth).

Layers, top to bottom: tasks; the operations (deploy, backup, status, nginx,
platform_services, hooks, notify); the decisions and records they share (config,
plan, naming, envfiles, steps, settings, state); the engine. A module may import
its own layer and the ones below, never above; each rule below names one way to
break that and fails when someone does.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "lib" / "platform_deploy"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports (``from x import y`` counts x and x.y)."""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            root = ".".join(base + ([node.module] if node.module else []))
            found.add(root)
            found.update(f"{root}.{alias.name}" for alias in node.names)
    return found


MODULES = {module_name(path): imports_of(path) for path in sorted(PACKAGE.rglob("*.py"))}


def importers(prefix: str) -> set[str]:
    """Modules importing ``prefix`` or anything under it."""
    return {module for module, imported in MODULES.items()
            if any(name == prefix or name.startswith(prefix + ".") for name in imported)}


def under(*packages: str) -> set[str]:
    names = tuple(f"platform_deploy.{package}" for package in packages)
    return {module for module in MODULES if module in names or module.startswith(tuple(n + "." for n in names))}


RULES = [
    ("only the engines import the Docker SDK", "docker", {"platform_deploy.engine.docker", "platform_deploy.engine.swarm"}),
    ("only the Docker engine touches requests (the SDK's transport)", "requests", {"platform_deploy.engine.docker"}),
    ("only the Docker engine and the git runner run programs", "subprocess",
     {"platform_deploy.engine.docker", "platform_deploy.gitrepo"}),
    ("only the ACME client speaks ACME", "acme", {"platform_deploy.certs.client"}),
    ("only the ACME client signs with josepy", "josepy", {"platform_deploy.certs.client"}),
    ("only the tasks import invoke", "invoke", under("tasks")),
    ("only the live report draws on a terminal", "rich", {"platform_deploy.liveprogress"}),
    ("only the tasks choose the engine implementation (the swarm's extends the host's)",
     "platform_deploy.engine.docker", {"platform_deploy.tasks.common", "platform_deploy.engine.swarm"}),
    ("only the tasks choose the swarm engine", "platform_deploy.engine.swarm", {"platform_deploy.tasks.common"}),
    ("nothing imports the tasks", "platform_deploy.tasks", under("tasks")),
    ("the pipeline does not know restores", "platform_deploy.deploy.restore", under("tasks") | {
        "platform_deploy.deploy.restore"}),
]


@pytest.mark.parametrize("rule, imported, allowed", RULES, ids=[rule for rule, _, _ in RULES])
def test_import_rule(rule, imported, allowed):
    assert importers(imported) - set(allowed) == set(), rule


LOWER_LAYERS = {
    # package: what it may import from this package (besides itself)
    "engine": {"errors", "textutil"},
    "state": {"errors", "fsutil", "textutil"},
    "config": {"errors", "naming", "textutil"},
    "backup": {"errors", "fsutil", "textutil", "engine", "state", "config", "plan", "naming", "envfiles", "redact",
               "settings"},
    "status": {"errors", "fsutil", "textutil", "engine", "state", "config", "backup", "steps", "certfiles", "naming"},
    "certfiles": {"errors"},
}


@pytest.mark.parametrize("package", sorted(LOWER_LAYERS))
def test_lower_layers_import_nothing_above_them(package):
    allowed = tuple(f"platform_deploy.{name}" for name in LOWER_LAYERS[package] | {package})
    for module in under(package):
        ours = {name for name in MODULES[module] if name.startswith("platform_deploy.")}
        above = {name for name in ours if not name.startswith(allowed) and name != "platform_deploy"}
        assert above == set(), f"{module} imports {sorted(above)}, above the {package} layer"


def test_the_rules_see_the_imports():
    """The rule checker itself: it must find imports that are known to exist."""
    assert "platform_deploy.engine.docker" in importers("docker")
    assert "platform_deploy.deploy.pipeline" in importers("platform_deploy.engine")
    assert "platform_deploy.tasks.deploy" in importers("invoke")
    assert "platform_deploy.certs.client" in importers("acme")
