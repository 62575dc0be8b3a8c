"""What a restore writes, decided before anything changes; config files in and out of a backup."""

import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from platform_deploy.backup import configfiles, payload
from platform_deploy.backup.catalog import Backup
from platform_deploy.deploy.restore import plan_restore
from platform_deploy.config.load import parse_registry
from platform_deploy.plan import make_plan
from platform_deploy.errors import PlatformError
from platform_deploy.settings import Settings

REPO = Path(__file__).resolve().parents[2]
PROJECTS_YML = b"""\
projects:
  demo:
    domains:
      production: demo.example.com
      staging: staging.demo.example.com
    containers:
      backend:
        name: demo-backend
        port: 3000
        image: registry.example.com/demo-backend
        volumes: {demo-data: /data, demo-cache: /cache}
      frontend: {name: demo-frontend, port: 80, image: registry.example.com/demo-frontend}
    database:
      type: postgresql
      user: demo
      databases: {production: demo_production, staging: demo_staging}
"""
ENV_PATHS = ("config/demo/.env.production",)


@pytest.fixture
def project():
    return parse_registry(PROJECTS_YML).project("demo")


@pytest.fixture
def plan(project):
    return make_plan(project, "production", "backup_20250106_120000-production", "20250106120000-abcd")


def backup(**meta) -> Backup:
    base = {"images": {"backend": {"image_id": "sha256:1"}, "frontend": {"image_id": "sha256:2"}},
            "volumes": {"demo-data-production": {"file": "volumes/demo-data-production.tar"},
                        "old-production": {"file": "volumes/old-production.tar"}},
            "database": {"database": "demo_production", "file": "database/demo_production.dump"},
            "config": {"env_files": {"config/demo/.env.production": "config/env/config/demo/.env.production",
                                     "config/demo/other.env": None}}}
    base.update(meta)
    return Backup("backup_20250106_120000", Path("/nonexistent"), base)


def test_restores_the_volumes_the_project_still_uses_and_says_what_it_leaves(plan):
    planned = plan_restore(backup(), plan, with_database=False, env_paths=ENV_PATHS)
    assert planned.volumes == {"demo-data-production": "volumes/demo-data-production.tar"}
    assert planned.env_files == {"config/demo/.env.production": "config/env/config/demo/.env.production"}
    assert planned.database is False
    assert planned.notes == (
        "volume old-production is not used by the project any more: not restored",
        "volume demo-cache-production is not in the backup: left as it is",
        "database demo_production not restored (pass --with-database for that)")


def test_a_backup_without_an_image_for_every_container_is_refused(plan):
    with pytest.raises(PlatformError) as refused:
        plan_restore(backup(images={"backend": {"image_id": "sha256:1"}}), plan, False, ENV_PATHS)
    assert str(refused.value) == ("backup backup_20250106_120000 has no image for frontend (the project's "
                                  "containers changed since, or nothing of it was live); nothing was changed; "
                                  "restore another backup")


def test_with_database_needs_a_dump(plan):
    with pytest.raises(PlatformError) as refused:
        plan_restore(backup(database=None, database_note="database demo_production did not exist yet"), plan, True,
                     ENV_PATHS)
    assert str(refused.value) == ("backup backup_20250106_120000 has no database dump (database demo_production "
                                  "did not exist yet); nothing was changed; restore it without --with-database")
    assert plan_restore(backup(), plan, True, ENV_PATHS).database is True


def test_config_goes_into_the_payload_and_env_files_come_back_private(tmp_path, project):
    root = tmp_path / "root"
    (root / "config" / "demo").mkdir(parents=True)
    (root / "config" / "projects.yml").write_bytes(PROJECTS_YML)
    env = root / "config" / "demo" / ".env.production"
    env.write_text("SECRET_KEY=s3cr3t\nDATABASE_URL=postgresql://demo:pw@db/demo_production\n")
    (root / "platform" / "nginx" / "conf.d").mkdir(parents=True)
    (root / "platform" / "nginx" / "conf.d" / "demo.example.com.conf").write_text("# generated\n")
    settings = Settings(root=root)
    (tmp_path / "payload").mkdir()
    writer = payload.PayloadWriter(tmp_path / "payload")

    record = configfiles.save(settings, project, "production", writer)
    assert record == {"projects_entry": "config/projects.yml",
                      "env_files": {"config/demo/.env.production": "config/env/config/demo/.env.production"},
                      "nginx": {"file": "platform/nginx/conf.d/demo.example.com.conf",
                                "stored": "config/nginx/demo.example.com.conf"}}
    entry = (tmp_path / "payload" / "config" / "projects.yml").read_text()
    assert entry.startswith("# The entry of demo in config/projects.yml") and "demo-backend" in entry
    assert set(writer.files) == {"config/projects.yml", "config/env/config/demo/.env.production",
                                 "config/nginx/demo.example.com.conf"}

    env.write_text("SECRET_KEY=changed\n")
    env.chmod(0o644)
    assert configfiles.restore_env_files(settings, "demo", record["env_files"], tmp_path / "payload",
                                         writer.files) == [
        "config/demo/.env.production"]
    assert env.read_text().startswith("SECRET_KEY=s3cr3t\n") and env.stat().st_mode & 0o777 == 0o600
    configfiles.remove_env_file(settings, "demo", "config/demo/.env.production")
    assert not env.exists()


def test_paths_from_a_meta_cannot_leave_their_directories(tmp_path):
    settings = SimpleNamespace(root=tmp_path)
    for bad in ("../../etc/cron.d/x", "/etc/passwd"):
        with pytest.raises(PlatformError, match="which leaves its directory; the .meta was edited by hand"):
            configfiles.restore_env_files(settings, "demo", {bad: "config/env/x"}, tmp_path, {})
        with pytest.raises(PlatformError, match="which leaves its directory"):
            configfiles.restore_env_files(settings, "demo", {"config/demo/x": bad}, tmp_path, {})


def bash(script: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, cwd="/", timeout=30, check=False)


def test_the_sourced_functions_exist_set_no_options_and_check_their_arguments():
    functions = REPO / "lib" / "functions" / "backup.sh"
    assert bash(f"bash -n {functions}").returncode == 0
    options = bash(f"set -o > /tmp/before.$$; source {functions}; set -o | diff /tmp/before.$$ - ; "
                   "rc=$?; rm /tmp/before.$$; type -t restore_backup get_latest_backup; exit $rc")
    assert options.returncode == 0 and options.stdout.split() == ["function", "function"], options.stdout
    usage = bash(f"source {functions}; restore_backup demo production ''")
    assert usage.returncode == 2 and usage.stderr.startswith("usage: restore_backup PROJECT ENVIRONMENT BACKUP_NAME")
    usage = bash(f"source {functions}; get_latest_backup demo")
    assert usage.returncode == 2 and usage.stderr == "usage: get_latest_backup PROJECT ENVIRONMENT\n"
