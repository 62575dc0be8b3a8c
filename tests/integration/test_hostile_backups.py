"""Restores trust nothing in a backup directory, against the real engine and PostgreSQL (issue 11, items 4, 5, 10).

One VolumeProject deployed once (v1) and one manual backup of it; the hostile backups are copies of that
real one, edited as an attacker with write access to the backups directory could (checksums recomputed).
The unit tests (tests/unit/test_backup_trust.py) cover every archive and .meta case; here: the database
is restored as the project's own role, and a hostile backup is refused by the CLI with nothing changed.
"""

import hashlib
import io
import json
import shutil
import subprocess
import tarfile

import pytest
from deploy_support import ENGINE, VolumeProject, demo_images, module_projects  # noqa: F401  (fixtures)

from platform_deploy.backup import commands, layout

pytestmark = pytest.mark.integration

ENV = "production"


@pytest.fixture(scope="module")
def project(module_projects):  # noqa: F811  (the fixture imported above)
    project = module_projects(VolumeProject)
    assert project.deploy("v1").ok
    for n in range(2):
        status, _, body = project.request("/api/items", method="POST", body={"name": f"kept-{n}"})
        assert status in (200, 201), body
    project.original = commands.create(ENGINE, project.settings, project.registry(), project.name, ENV)["name"]
    return project


def invoke(project, *args):
    result = project.invoke(*args, "--project", project.name, "--env", ENV, timeout=600)
    print(f"--- invoke {' '.join(args)} -> {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


def copy_of(project, name: str) -> str:
    """A new backup that is a byte-for-byte copy of ``name`` (payload and .meta); its name."""
    directory = layout.backup_dir(project.settings, project.name, ENV)
    copy = layout.reserve_name(project.settings.backups_dir, directory)
    shutil.copytree(directory / name, directory / copy, dirs_exist_ok=True)
    meta = json.loads((directory / f"{name}.meta").read_text())
    meta.pop("verification", None)
    (directory / f"{copy}.meta").write_text(json.dumps({**meta, "name": copy}))
    return copy


def replace_file(project, name: str, relative: str, data: bytes, change_meta=lambda meta: None) -> None:
    """Put ``data`` at ``relative`` in backup ``name`` and list it with its right checksum."""
    directory = layout.backup_dir(project.settings, project.name, ENV)
    path = directory / name / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    meta = json.loads((directory / f"{name}.meta").read_text())
    meta["files"][relative] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    change_meta(meta)
    (directory / f"{name}.meta").write_text(json.dumps(meta))


def with_member(archive: bytes, info: tarfile.TarInfo) -> bytes:
    """``archive`` (a real volume tar) with one more member."""
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:") as source, \
            tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as target:
        for member in source:
            target.addfile(member, source.extractfile(member) if member.isreg() else None)
        target.addfile(info)
    return out.getvalue()


def state(project) -> dict:
    return {"data": project.fingerprint("data"), "rows": project.rows(), "env": project.env_path(ENV).read_bytes(),
            "manifest": (project.state_dir(ENV) / "manifest.json").read_bytes(), "serving": project.serving()}


def superuser(project) -> str:
    code, output = project.psql("postgres", f"SELECT rolsuper FROM pg_roles WHERE rolname = '{project.name}'")
    assert code == 0, output
    return output


def test_a_hostile_backup_is_refused_by_verify_and_restore_with_nothing_changed(project):
    name = copy_of(project, project.original)
    relative = f"volumes/{project.volume('data')}.tar"
    real = (layout.backup_dir(project.settings, project.name, ENV) / project.original / relative).read_bytes()
    link = tarfile.TarInfo("platform-volume/etc")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc"
    replace_file(project, name, relative, with_member(real, link), lambda meta: meta["config"]["env_files"].update(
        {"lib/platform_deploy/__init__.py": meta["config"]["env_files"][f"config/{project.name}/.env.{ENV}"]}))
    before = state(project)

    verified = invoke(project, "backup.verify", "--backup", name)
    assert verified.returncode == 1
    assert f"  {relative}: member 'platform-volume/etc' is a symlink to '/etc', which leaves the volume" \
        in verified.stdout.splitlines()
    assert any("'lib/platform_deploy/__init__.py': the .meta would write this env file" in line
               for line in verified.stdout.splitlines())

    restored = invoke(project, "backup.restore", "--backup", name)
    assert restored.returncode == 1
    message = restored.stderr.strip()
    assert len(message.splitlines()) == 1 and "Traceback" not in message, message
    assert f"backup {name} of {project.name}/{ENV} cannot be restored: " in message, message
    assert "nothing was changed" in message
    assert state(project) == before
    assert not (project.settings.root / "lib").exists()
    assert project.secret_key not in verified.stdout + restored.stdout + restored.stderr


def hostile_dump(project) -> bytes:
    """A real pg_dump --format=custom of a scratch database whose restore runs SQL of its author's choice:
    a CHECK constraint calls a function that makes the project's role a superuser, for every row loaded."""
    scratch = f"{project.name}_hostile"
    container = project.settings.postgres_container
    # The row goes in while promote() is harmless; its body is replaced afterwards (pg_dump keeps the last one).
    sql = ("CREATE FUNCTION promote(integer) RETURNS boolean LANGUAGE sql AS 'SELECT true'; "
           "CREATE TABLE planted (id integer CHECK (promote(id))); INSERT INTO planted VALUES (1); "
           "CREATE OR REPLACE FUNCTION promote(integer) RETURNS boolean LANGUAGE plpgsql AS $$BEGIN "
           f"EXECUTE 'ALTER ROLE \"{project.name}\" SUPERUSER'; RETURN true; END$$;")
    assert project.psql("postgres", f'CREATE DATABASE "{scratch}"')[0] == 0
    try:
        code, output = project.psql(scratch, sql)
        assert code == 0, output
        dumped = subprocess.run(["docker", "exec", container, "pg_dump", "-U", "postgres", "--format=custom",
                                 f"--dbname={scratch}"], capture_output=True, timeout=120, check=False)
        assert dumped.returncode == 0, dumped.stderr
        return dumped.stdout
    finally:
        project.psql("postgres", f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')


def test_a_crafted_dump_runs_as_the_project_role_and_cannot_make_it_superuser(project):
    name = copy_of(project, project.original)
    dump = (json.loads((layout.backup_dir(project.settings, project.name, ENV) / f"{name}.meta").read_text())
            ["database"]["file"])
    replace_file(project, name, dump, hostile_dump(project))
    assert superuser(project) == "f"
    before = state(project)

    restored = invoke(project, "backup.restore", "--backup", name, "--with-database")
    assert superuser(project) == "f", "the dump's SQL ran as a superuser"
    assert restored.returncode == 1, restored.stdout
    assert f"restoring database {project.databases[ENV]}" in restored.stderr and "superuser" in restored.stderr, \
        restored.stderr
    assert project.rows() == before["rows"]
    assert project.psql(project.databases[ENV], "SELECT 1 FROM planted")[0] != 0
    assert project.serving() == before["serving"]


def test_a_genuine_dump_is_restored_by_the_role_and_owned_by_it(project):
    rows = project.rows()
    status, _, body = project.request("/api/items", method="POST", body={"name": "after-the-backup"})
    assert status in (200, 201), body
    code, output = project.psql(project.databases[ENV], f'SET ROLE "{project.name}"; CREATE TABLE stray (id int)')
    assert code == 0, output

    restored = invoke(project, "backup.restore", "--backup", project.original, "--with-database")
    assert restored.returncode == 0, restored.stderr
    assert project.rows() == rows
    assert project.psql(project.databases[ENV], "SELECT 1 FROM stray")[0] != 0, "the restore left a stray table"
    code, owners = project.psql(project.databases[ENV], "SELECT DISTINCT tableowner FROM pg_tables WHERE "
                                                        "schemaname = 'public'")
    assert code == 0 and owners.split() == [project.name], owners
    assert superuser(project) == "f"
