"""Backups that restore, for real: volumes through the Docker API, pg_dump/pg_restore in the session
stack's PostgreSQL, restores deployed through the pipeline and served through the stack's nginx.

Each module-level project is deploy_support's demo project plus two volumes: the backend's
``<name>-data`` at /data and the frontend's ``<name>-files``, served by it under /files/.
Everything is removed afterwards: containers, networks, databases, image tags (deploy_support),
and here the volumes, the backups and any tmpfs mount.
"""

import dataclasses
import hashlib
import io
import json
import re
from pathlib import Path

import pytest
from deploy_support import (BASE_IMAGE, ENGINE, REPO, VolumeProject, demo_images, module_projects,  # noqa: F401
                            projects, run, tiny_filesystem)

from platform_deploy.backup import catalog, commands, layout
from platform_deploy.backup.create import create
from platform_deploy.deploy.pipeline import DeployFailed, Deployment, Options
from platform_deploy.plan import make_plan, new_deploy_id
from platform_deploy.errors import PlatformError
from platform_deploy.report import ConsoleReport

pytestmark = pytest.mark.integration

ENV = "production"


@pytest.fixture(scope="module")
def make_project(module_projects):
    """``make_project()``: a VolumeProject serving v2 (after v1, so a deploy backup exists)."""

    def make() -> VolumeProject:
        project = module_projects(VolumeProject)
        for tag in ("v1", "v2"):
            outcome = project.deploy(tag)
            assert outcome.ok, outcome.error
        return project

    return make


@pytest.fixture(scope="module")
def project(make_project):
    return make_project()


def write_data(project, marker: str) -> None:
    """Volume files (a random blob, an owned file, a link) and database rows that say ``marker``."""
    project.in_volume("data", f"rm -rf /v/* && head -c 3000000 /dev/urandom > /v/blob && mkdir -p /v/sub && "
                              f"echo {marker} > /v/sub/owned && chown 1000:1001 /v/sub/owned && "
                              f"chmod 640 /v/sub/owned && ln -s sub/owned /v/link")
    project.in_volume("files", f"echo {marker} > /v/hello.txt")
    for n in range(3):
        status, _, body = project.request("/api/items", method="POST", body={"name": f"{marker}-{n}"})
        assert status in (200, 201), body


def served_file(project) -> tuple[int, str]:
    status, _, body = project.request("/files/hello.txt")
    return status, body.strip()


def invoke(project, *args, timeout=600):
    result = project.invoke(*args, timeout=timeout)
    print(f"--- invoke {' '.join(args)} -> {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


def backup_create(project) -> str:
    result = invoke(project, "backup.create", "--project", project.name, "--env", ENV)
    assert result.returncode == 0, result.stderr
    name = result.stdout.split()[1]
    assert layout.is_name(name), result.stdout
    return name


def meta_of(project, name: str) -> dict:
    return json.loads((layout.backup_dir(project.settings, project.name, ENV) / f"{name}.meta").read_text())


def state(project) -> dict:
    """Everything a refused restore must leave exactly as it was."""
    return {"data": project.fingerprint("data"), "files": project.fingerprint("files"), "rows": project.rows(),
            "ids": {name: c["id"] for name, c in project.containers().items()},
            "manifest": (project.state_dir(ENV) / "manifest.json").read_bytes(),
            "env": project.env_path(ENV).read_bytes()}


# -- round trips -------------------------------------------------------------------------------------

def test_backup_holds_volumes_database_config_and_images(project):
    write_data(project, "holds")
    name = backup_create(project)
    meta = meta_of(project, name)
    directory = layout.backup_dir(project.settings, project.name, ENV)

    assert meta["project"] == project.name and meta["environment"] == ENV and meta["reason"] == "manual"
    assert set(meta["volumes"]) == {project.volume("data"), project.volume("files")}
    assert meta["database"]["database"] == project.databases[ENV] and meta["database"]["bytes"] > 0
    assert set(meta["images"]) == {"backend", "frontend"}
    for role, image in meta["images"].items():
        assert image["image"].endswith(f":{name}-{ENV}")
        assert run(["docker", "image", "inspect", "--format", "{{.Id}}", image["image"]]).stdout.strip() \
            == image["image_id"]
    env_file = f"config/{project.name}/.env.{ENV}"
    stored = meta["config"]["env_files"][env_file]
    assert (directory / name / stored).read_bytes() == project.env_path(ENV).read_bytes()
    assert (directory / name / meta["config"]["projects_entry"]).read_text().count(project.name) >= 2
    assert meta["config"]["nginx"]["file"].endswith(f"{project.name}.test.conf")
    # Every payload file has its checksum; modes 0700/0600 throughout; nothing else in the payload.
    files = {str(p.relative_to(directory / name)) for p in (directory / name).rglob("*") if p.is_file()}
    assert files == set(meta["files"])
    for relative, info in meta["files"].items():
        data = (directory / name / relative).read_bytes()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (info["bytes"], info["sha256"])
    assert meta["total_bytes"] == sum(info["bytes"] for info in meta["files"].values()) > 3_000_000
    for path in [directory, directory / name, *(directory / name).rglob("*")]:
        assert path.stat().st_mode & 0o777 == (0o700 if path.is_dir() else 0o600), path
    assert (directory / f"{name}.meta").stat().st_mode & 0o777 == 0o600
    # Secrets stay out of the .meta and the output.
    assert project.password not in json.dumps(meta) and project.secret_key not in json.dumps(meta)

    listed = invoke(project, "backup.list", "--project", project.name, "--env", ENV)
    assert listed.returncode == 0 and name in listed.stdout
    verified = invoke(project, "backup.verify", "--project", project.name, "--env", ENV, "--backup", name)
    assert verified.returncode == 0 and f"{name}: ok" in verified.stdout
    assert meta_of(project, name)["verification"]["ok"] is True
    assert "ok 20" in invoke(project, "backup.list", "--project", project.name, "--env", ENV).stdout


def test_restore_round_trip_brings_back_volumes_rows_images_and_serves_them(project):
    write_data(project, "before")
    name = backup_create(project)
    before = {"data": project.fingerprint("data"), "files": project.fingerprint("files"), "rows": project.rows(),
              "images": project.live_image_ids(), "env": project.env_path(ENV).read_bytes()}
    assert served_file(project) == (200, "before")

    # Change everything: a new version, other volume contents, rows gone, the table dropped, another env file.
    assert project.deploy("v3").ok
    project.in_volume("data", "rm -rf /v/sub /v/link && head -c 1000 /dev/urandom > /v/blob && touch /v/new")
    project.in_volume("files", "echo after > /v/hello.txt")
    # As the app's own role, like a later migration would: a table the backup does not know.
    project.psql(project.databases[ENV], f'DELETE FROM items; SET ROLE "{project.name}"; CREATE TABLE stray (id int)')
    project.env_path(ENV).write_text(project.env_path(ENV).read_text() + "EXTRA=1\n")
    assert served_file(project) == (200, "after")
    assert project.serving() == ("v3", "v3")

    # DEPLOYMENT.md's manual rollback, verbatim through the sourced functions.
    result = run(["bash", "-c", f"cd {REPO} && source lib/functions/backup.sh && "
                                f"restore_backup {project.name} {ENV} {name} --with-database"],
                 env=project.subprocess_env(), timeout=600)
    print(result.stdout, result.stderr)
    assert result.returncode == 0, result.stderr

    assert project.fingerprint("data") == before["data"]
    assert project.fingerprint("files") == before["files"]
    assert project.rows() == before["rows"]
    assert project.psql(project.databases[ENV], "SELECT 1 FROM stray")[0] != 0, "the restore left a stray table"
    assert project.live_image_ids() == before["images"]
    assert project.env_path(ENV).read_bytes() == before["env"]
    assert project.env_path(ENV).stat().st_mode & 0o777 == 0o600
    assert project.serving() == ("v2", "v2")
    assert served_file(project) == (200, "before")

    current = project.manifest()["current_deployment"]
    assert current["status"] == "success" and current["restored_from"] == name
    assert current["version"] == f"{name}-{ENV}"
    saved = meta_of(project, current["backup"])
    assert saved["reason"] == "pre-restore" and saved["deploy_id"] == current["deploy_id"]
    assert saved["database"] is not None   # --with-database: the database was saved first
    assert f"{project.name}.yml" not in result.stdout and "projects.yml entry is in" in result.stdout
    assert project.secret_key not in result.stdout + result.stderr


def test_failed_restore_keeps_the_live_version_and_puts_the_data_back(project):
    # A backup whose env file lacks DATABASE_URL: its deploy fails at step 4, after the data was written.
    write_data(project, "broken")
    good_env = project.env_path(ENV).read_bytes()
    project.write_env(ENV, omit=("DATABASE_URL",))
    name = backup_create(project)
    project.env_path(ENV).write_bytes(good_env)
    write_data(project, "current")
    before = state(project) | {"serving": project.serving()}

    result = invoke(project, "backup.restore", "--project", project.name, "--env", ENV, "--backup", name,
                    "--with-database")
    assert result.returncode == 1
    assert "DATABASE_URL" in result.stderr and "data put back from backup_" in result.stderr
    assert project.serving() == before["serving"]
    assert served_file(project) == (200, "current")
    assert project.fingerprint("data") == before["data"]
    assert project.rows() == before["rows"]
    assert project.env_path(ENV).read_bytes() == good_env
    manifest = project.manifest()
    assert manifest["last_attempt"]["restored_from"] == name
    assert manifest["last_attempt"]["status"] == "rolled_back"
    assert json.loads(before["manifest"])["current_deployment"] == manifest["current_deployment"]


# -- refusals ----------------------------------------------------------------------------------------

def refused_restore(project, name, expected: str):
    before = state(project)
    result = invoke(project, "backup.restore", "--project", project.name, "--env", ENV, "--backup", name)
    assert result.returncode == 1
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1, message
    assert name in message and expected in message and "nothing was changed" in message, message
    assert state(project) == before
    return message


def test_corrupt_volume_archive_is_refused_with_nothing_changed(project):
    name = backup_create(project)
    archive = layout.backup_dir(project.settings, project.name, ENV) / name / "volumes" / \
        f"{project.volume('data')}.tar"
    with open(archive, "r+b") as handle:
        handle.seek(archive.stat().st_size // 2)
        handle.write(b"\xff" * 64)
    refused_restore(project, name, "SHA-256 checksum mismatch")
    assert meta_of(project, name)["verification"]["ok"] is False
    assert "FAILED" in invoke(project, "backup.list", "--project", project.name, "--env", ENV).stdout
    verified = invoke(project, "backup.verify", "--project", project.name, "--env", ENV, "--backup", name)
    assert verified.returncode == 1 and f"volumes/{project.volume('data')}.tar" in verified.stdout


def test_checksum_mismatch_in_the_meta_is_refused(project):
    name = backup_create(project)
    meta_file = layout.backup_dir(project.settings, project.name, ENV) / f"{name}.meta"
    meta = json.loads(meta_file.read_text())
    dump = meta["database"]["file"]
    meta["files"][dump]["sha256"] = "0" * 64
    meta_file.write_text(json.dumps(meta))
    refused_restore(project, name, f"{dump}: SHA-256 checksum mismatch")


def test_unreadable_archive_with_a_matching_checksum_is_refused(project):
    name = backup_create(project)
    directory = layout.backup_dir(project.settings, project.name, ENV)
    relative = f"volumes/{project.volume('files')}.tar"
    garbage = b"this is not a tar archive\n" * 100
    (directory / name / relative).write_bytes(garbage)
    meta = json.loads((directory / f"{name}.meta").read_text())
    meta["files"][relative] = {"bytes": len(garbage), "sha256": hashlib.sha256(garbage).hexdigest()}
    (directory / f"{name}.meta").write_text(json.dumps(meta))
    refused_restore(project, name, "not a readable tar archive")


def test_missing_backup_and_bad_names_are_refused(project):
    result = invoke(project, "backup.restore", "--project", project.name, "--env", ENV, "--backup",
                    "backup_19990101_000000")
    assert result.returncode == 1 and "not found" in result.stderr
    result = invoke(project, "backup.restore", "--project", project.name, "--env", ENV, "--backup", "../../etc")
    assert result.returncode == 1 and "is not a backup name" in result.stderr


# -- disk full ---------------------------------------------------------------------------------------

@pytest.fixture
def tiny_backups_dir():
    with tiny_filesystem("2m") as mount:
        yield mount


def test_disk_full_during_backup_aborts_the_deploy_and_leaves_nothing(project, tiny_backups_dir):
    write_data(project, "full")   # a 3 MB blob: more than the 2 MiB tmpfs holds
    settings = dataclasses.replace(project.settings, backups_dir=tiny_backups_dir, min_free_gb=0.0)
    ids_before = {name: c["id"] for name, c in project.containers().items()}
    serving = project.serving()

    out = io.StringIO()
    with pytest.raises(DeployFailed) as failed:
        Deployment(ENGINE, settings, project.registry(), project.name, ENV, Options(tag="v3"),
                   ConsoleReport(out)).run()
    print(out.getvalue())
    message = str(failed.value)
    assert "backup failed" in message and "no space left" in message and "removed again" in message
    assert "aborted" in message

    directory = Path(tiny_backups_dir) / project.name / ENV
    assert list(directory.iterdir()) == [], "a partial backup was left"
    name = re.search(r"could not write (backup_\w+)", message).group(1)
    assert not untagged_leftovers(project, name)
    assert {name: c["id"] for name, c in project.containers().items()} == ids_before
    assert project.serving() == serving
    assert not run(["docker", "ps", "-aq", "--filter", f"label=platform.project={project.name}",
                    "--filter", "label=platform.role=backup-helper"]).stdout.strip()

    # The task says the same in one line.
    env = project.subprocess_env() | {"PLATFORM_BACKUPS_DIR": str(tiny_backups_dir)}
    result = run([str(REPO / ".venv/bin/invoke"), "--search-root", str(REPO), "backup.create", "--project",
                  project.name, "--env", ENV], env=env, cwd=REPO, timeout=300)
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1 and "no space left" in result.stderr, result.stderr
    assert list(directory.iterdir()) == []
    assert not untagged_leftovers(project, re.search(r"could not write (backup_\w+)", result.stderr).group(1))


def untagged_leftovers(project, name: str) -> list[str]:
    """Image tags of backup ``name`` that still exist (there should be none)."""
    images = [c.image for c in project.registry().project(project.name).containers]
    return [f"{image}:{name}-{ENV}" for image in images
            if run(["docker", "image", "inspect", f"{image}:{name}-{ENV}"]).returncode == 0]


# -- prune -------------------------------------------------------------------------------------------

def test_prune_keeps_the_newest_and_the_live_deployments_backup(make_project):
    project = make_project()            # v1 then v2: the v2 deploy made a backup, the live one's
    live_backup = project.manifest()["current_deployment"]["backup"]
    assert live_backup in project.backups()
    made = [backup_create(project) for _ in range(3)]
    # An interrupted backup: a payload directory without .meta, with the tag it had made.
    directory = layout.backup_dir(project.settings, project.name, ENV)
    orphan = "backup_20000101_000000"
    frontend_id = meta_of(project, made[0])["images"]["frontend"]["image_id"]
    orphan_tag = f"{project.registry().project(project.name).container('frontend').image}:{orphan}-{ENV}"
    (directory / orphan).mkdir(mode=0o700)
    run(["docker", "tag", frontend_id, orphan_tag])
    (directory / orphan / layout.PENDING_TAGS).write_text(json.dumps([[orphan_tag, frontend_id]]))

    dry = invoke(project, "backup.prune", "--project", project.name, "--env", ENV, "--keep", "1", "--dry-run")
    assert dry.returncode == 0 and "would remove" in dry.stdout
    assert len(project.backups()) == 4

    removed_tags = [image["image"] for name in made[:2] for image in meta_of(project, name)["images"].values()]
    result = invoke(project, "backup.prune", "--project", project.name, "--env", ENV, "--keep", "1")
    assert result.returncode == 0, result.stderr
    assert project.backups() == [made[2], live_backup]
    assert "MB freed" in result.stdout and "removed incomplete backup_20000101_000000" in result.stdout
    assert not (directory / orphan).exists()
    for tag in removed_tags + [orphan_tag]:
        assert run(["docker", "image", "inspect", tag]).returncode != 0, f"{tag} still tagged"
    for name in (made[2], live_backup):
        for image in meta_of(project, name)["images"].values():
            assert run(["docker", "image", "inspect", image["image"]]).returncode == 0
    assert sorted(p.name for p in directory.iterdir()) == sorted(
        [made[2], f"{made[2]}.meta", live_backup, f"{live_backup}.meta"])

    # A deploy prunes with the configured policy at step 7 (here: keep 1).
    settings = dataclasses.replace(project.settings, backup_keep=1)
    out = io.StringIO()
    entry = Deployment(ENGINE, settings, project.registry(), project.name, ENV, Options(tag="v3"),
                       ConsoleReport(out)).run().to_json()
    print(out.getvalue())
    cleanup = next(step for step in entry["steps"] if step["name"] == "cleanup")
    assert "backups: 1 removed" in cleanup["detail"], cleanup
    # Kept: the newest (this deploy's own) and, at step 7, the live deployment's (the previous deploy's).
    assert project.backups() == [entry["backup"], live_backup]


# -- bash functions ----------------------------------------------------------------------------------

def test_sourced_functions_print_the_latest_name_and_fail_cleanly(project):
    newest = backup_create(project)

    def bash(script: str):
        return run(["bash", "-c", f"source {REPO}/lib/functions/backup.sh; {script}"],
                   env=project.subprocess_env(), cwd="/", timeout=120)

    latest = bash(f"get_latest_backup {project.name} {ENV}")
    assert latest.returncode == 0 and latest.stdout == f"{newest}\n", latest.stderr
    none = bash(f"get_latest_backup {project.name} staging")
    assert none.returncode == 1 and none.stdout == "" and "no backups" in none.stderr
    empty = bash(f'restore_backup {project.name} staging "$(get_latest_backup {project.name} staging)"')
    assert empty.returncode == 2 and "usage: restore_backup" in empty.stderr
    unknown = bash(f"get_latest_backup no-such-project {ENV}")
    assert unknown.returncode == 1 and "no project 'no-such-project'" in unknown.stderr


def test_library_create_and_verify_leave_no_helper_containers(project):
    settings = project.settings
    registry = project.registry()
    # A helper a killed backup left behind is removed by the next one.
    run(["docker", "create", "--label", f"platform.project={project.name}", "--label", f"platform.environment={ENV}",
         "--label", "platform.role=backup-helper", BASE_IMAGE, "true"])
    plan = make_plan(registry.project(project.name), ENV, "latest", new_deploy_id())
    meta = create(ENGINE, settings, plan, "test", None, project=registry.project(project.name), reason="manual")
    assert meta is not None
    helpers = run(["docker", "ps", "-aq", "--filter", "label=platform.role=backup-helper",
                   "--filter", f"label=platform.project={project.name}"])
    assert helpers.stdout.strip() == ""
    assert commands.verify(ENGINE, settings, registry, project.name, ENV, meta["name"], print) == 0
    with pytest.raises(PlatformError, match="is not a backup name"):
        catalog.resolve(settings, project.name, ENV, "backup_x")
