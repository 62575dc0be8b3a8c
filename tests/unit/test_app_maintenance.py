"""Maintenance mode as the operator uses it: nginx/maintenance.py against the FakeEngine (a deploy meanwhile
keeps it), and `invoke app.maintenance` / `app.live` through the CLI where no engine is needed.
"""

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from deploy_world import ENV, PROJECT
from platform_deploy.config.maintenance import Maintenance
from platform_deploy.errors import PlatformError
from platform_deploy.nginx import live as nginx_live
from platform_deploy.nginx import maintenance as mode
from seed import DEPLOYMENT_EXAMPLE

REPO = Path(__file__).resolve().parents[2]
INVOKE = (str(REPO / ".venv" / "bin" / "invoke"), "--search-root", str(REPO))
SINCE = "2026-12-02T05:00:00Z"
CLOSED = Maintenance("Back at 06:00 UTC.", SINCE, 120)


def conf(world) -> str:
    return (world.settings.conf_dir / "shop.test.conf").read_text()


def nginx_commands(world) -> list:
    return [args[1] for _, args in world.engine.logged("exec_run") if args[1][0] == "nginx"]


# --- nginx/maintenance.py ----------------------------------------------------------------------

def test_change_records_the_state_and_reloads(world):
    assert mode.current(world.settings, world.registry, PROJECT, ENV) is None
    planned = mode.change(world.engine, world.settings, world.registry, PROJECT, ENV, CLOSED)
    assert planned.write == ("shop.test.conf",)
    assert mode.current(world.settings, world.registry, PROJECT, ENV) == CLOSED
    assert "return 503" in conf(world) and "set $maintenance_retry_after 120;" in conf(world)
    assert nginx_commands(world) == [["nginx", "-t"], ["nginx", "-s", "reload"]]

    mode.change(world.engine, world.settings, world.registry, PROJECT, ENV, None)
    assert not world.settings.maintenance_file.exists()            # nothing left in maintenance
    assert "maintenance" not in conf(world)


def test_a_rejected_config_puts_the_state_and_the_config_back(world, monkeypatch):
    before = conf(world)

    def rejected(engine, settings):
        raise PlatformError("nginx rejected the configuration: no")
    monkeypatch.setattr(nginx_live, "test_config", rejected)
    with pytest.raises(PlatformError, match=r"^nginx rejected the configuration: no; previous files restored, "
                                            r"running config untouched; config/maintenance.yml restored, "
                                            r"maintenance unchanged$"):
        mode.change(world.engine, world.settings, world.registry, PROJECT, ENV, CLOSED)
    assert not world.settings.maintenance_file.exists() and conf(world) == before


def test_a_failed_reload_puts_the_state_and_the_config_back(world, monkeypatch):
    mode.change(world.engine, world.settings, world.registry, PROJECT, ENV, CLOSED)
    state, before = world.settings.maintenance_file.read_bytes(), conf(world)

    def failed(engine, settings):
        raise PlatformError("nginx reload failed: gone")
    monkeypatch.setattr(nginx_live, "reload", failed)
    with pytest.raises(PlatformError, match="maintenance unchanged$"):
        mode.change(world.engine, world.settings, world.registry, PROJECT, ENV, None)
    assert world.settings.maintenance_file.read_bytes() == state and conf(world) == before


def test_unknown_names_change_nothing(world):
    with pytest.raises(PlatformError, match="no environment 'staging'"):
        mode.change(world.engine, world.settings, world.registry, PROJECT, "staging", CLOSED)
    with pytest.raises(PlatformError, match="no project 'nope'"):
        mode.current(world.settings, world.registry, "nope", ENV)
    assert not world.settings.maintenance_file.exists() and nginx_commands(world) == []


def test_a_deploy_during_maintenance_keeps_it(live):
    mode.change(live.engine, live.settings, live.registry, PROJECT, ENV, CLOSED)
    state, closed = live.settings.maintenance_file.read_bytes(), conf(live)
    entry = live.deploy("v2")
    assert entry["status"] == "success" and entry["version"] == "v2"
    assert live.settings.maintenance_file.read_bytes() == state and conf(live) == closed


# --- the CLI, where no engine is reached --------------------------------------------------------

@pytest.fixture
def cli(tmp_path):
    root = tmp_path / "root"
    (root / "config").mkdir(parents=True)
    (root / "config" / "projects.yml").write_text(DEPLOYMENT_EXAMPLE)
    clean = {key: value for key, value in os.environ.items() if not key.startswith("PLATFORM_")}
    env = dict(clean, PLATFORM_ROOT=str(root), PLATFORM_CERTS_DIR=str(tmp_path / "certs"),
               PLATFORM_DEPLOYMENTS_DIR=str(tmp_path / "deployments"), DOCKER_HOST="unix:///nonexistent")

    def run(*args):
        return subprocess.run([*INVOKE, *args], env=env, capture_output=True, text=True, timeout=60)
    return root, run


RECORDED = {"filter-ical": {"staging": {"message": "Back soon.", "since": SINCE, "retry_after": 60}}}


@pytest.mark.parametrize("args, error", [
    (("app.maintenance", "--project", "nope", "--env", "production"),
     "error: config/projects.yml: no project 'nope'; valid: filter-ical"),
    (("app.maintenance", "--project", "filter-ical", "--env", "preview"),
     "error: project 'filter-ical' has no environment 'preview'; valid: production, staging"),
    (("app.maintenance", "--project", "filter-ical", "--env", "production", "--retry-after", "soon"),
     "error: app.maintenance: --retry-after: 'soon' is not a whole number of seconds from 1 to 604800"),
    (("app.maintenance", "--project", "filter-ical", "--env", "production", "--message", "two\nlines"),
     "error: app.maintenance: --message: 'two\\nlines' holds a control character or a line break; "
     "give one line of text"),
    (("app.live", "--project", "nope", "--env", "production"),
     "error: config/projects.yml: no project 'nope'; valid: filter-ical"),
])
def test_refused_commands_say_why_in_one_line_and_change_nothing(cli, args, error):
    root, run = cli
    state = root / "config" / "maintenance.yml"
    state.write_text(yaml.safe_dump(RECORDED))
    before = state.read_bytes()
    result = run(*args)
    assert (result.returncode, result.stdout, result.stderr) == (1, "", error + "\n")
    assert state.read_bytes() == before and not (root / "platform").exists()


def test_live_when_not_in_maintenance_changes_nothing(cli):
    root, run = cli
    result = run("app.live", "--project", "filter-ical", "--env", "production")
    assert (result.returncode, result.stdout, result.stderr) == (
        0, "filter-ical/production: not in maintenance; nothing changed\n", "")
    assert not (root / "config" / "maintenance.yml").exists()


def test_without_nginx_the_state_and_configs_are_put_back(cli):
    root, run = cli
    state = root / "config" / "maintenance.yml"
    state.write_text(yaml.safe_dump(RECORDED))
    before = state.read_bytes()
    result = run("app.maintenance", "--project", "filter-ical", "--env", "production", "--message", "Back at 6.")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("error: cannot reach the Docker engine")
    assert result.stderr.endswith("; config/maintenance.yml restored, maintenance unchanged\n")
    assert result.stderr.count("\n") == 1
    assert state.read_bytes() == before
    assert list((root / "platform" / "nginx" / "conf.d").iterdir()) == []


def test_invalid_state_file_is_named(cli):
    root, run = cli
    (root / "config" / "maintenance.yml").write_text("filter-ical: {production: {message: x, since: now}}\n")
    result = run("app.live", "--project", "filter-ical", "--env", "production")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.splitlines() == [
        "error: config/maintenance.yml: filter-ical/production: missing required key 'retry_after'"]


def test_the_shim_passes_maintenance_and_live_on(cli):
    root, run = cli
    shim = subprocess.run([str(REPO / "lib" / "app.sh"), "live", "filter-ical", "staging"], capture_output=True,
                          text=True, timeout=60, env=dict(os.environ, PLATFORM_ROOT=str(root)))
    assert (shim.returncode, shim.stdout) == (0, "filter-ical/staging: not in maintenance; nothing changed\n")
    usage = subprocess.run([str(REPO / "lib" / "app.sh"), "maintenance"], capture_output=True, text=True, timeout=60)
    assert usage.returncode == 2 and "maintenance <project> <environment>" in usage.stderr
