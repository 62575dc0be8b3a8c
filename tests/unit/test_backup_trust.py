"""Restore and verify trust nothing in a backup directory (issue 11, items 4, 5 and 10; no Docker).

A backup directory is data: a hand edit, a copy from elsewhere or a crafted one reads like one this
tool made. Archives are built here with Python's tarfile, .meta files edited with their checksums
recomputed (an attacker can compute them too), and restores run on the FakeEngine (deploy_world).
"""

import hashlib
import io
import json
import os
import tarfile

import pytest
from deploy_world import ENV, PROJECT
from fakes import FakeEngine

from platform_deploy.backup import catalog, commands, configfiles, database, payload
from platform_deploy.config.model import DatabaseTarget
from platform_deploy.deploy import restore as restoring
from platform_deploy.engine import ExecResult
from platform_deploy.errors import PlatformError

TOP = "platform-volume"


def member(name, kind=tarfile.REGTYPE, data=b"", mode=0o644, link=""):
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.linkname, info.size = kind, mode, link, len(data)
    return info, data


def tar_bytes(*members) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as archive:
        archive.addfile(*member(TOP, tarfile.DIRTYPE, mode=0o755))
        for info, data in members:
            archive.addfile(info, io.BytesIO(data) if data else None)
    return buffer.getvalue()


@pytest.fixture
def backed_up(live):
    """The world with v1 live, then a backup of it made by a deploy of v2 (payload with env file and dump)."""
    live.deploy("v2", skip_backup=False)
    return live


def the_backup(world) -> catalog.Backup:
    return catalog.backups(world.settings, PROJECT, ENV)[-1]   # the oldest: the one v2's deploy made


def put_file(backup: catalog.Backup, relative: str, data: bytes, meta_changes=lambda meta: None) -> None:
    """Write ``relative`` into the payload and list it with its right checksum, as an attacker can."""
    path = backup.file(relative)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    path.write_bytes(data)
    edit_meta(backup, lambda meta: (meta["files"].__setitem__(relative, {
        "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}), meta_changes(meta)))


def edit_meta(backup: catalog.Backup, change) -> None:
    meta = json.loads(backup.meta_file.read_text())
    meta.pop("verification", None)
    change(meta)
    backup.meta_file.write_text(json.dumps(meta))


def problems_of(world) -> list[str]:
    return catalog.verify_files(catalog.read(the_backup(world).directory, the_backup(world).name))


def restore(world, **options):
    return restoring.restore(world.engine, world.settings, world.registry, PROJECT, ENV, the_backup(world).name,
                             options.pop("with_database", False), world.report)


# -- item 10: archive members ------------------------------------------------------------------------

HOSTILE_MEMBERS = [
    (member(f"{TOP}/etc", tarfile.SYMTYPE, link="/etc"),
     f"member '{TOP}/etc' is a symlink to '/etc', which leaves the volume"),
    (member(f"{TOP}/up", tarfile.SYMTYPE, link="../../root"),
     f"member '{TOP}/up' is a symlink to '../../root', which leaves the volume"),
    (member(f"{TOP}/hard", tarfile.LNKTYPE, link="etc/shadow"),
     "member 'platform-volume/hard' is a hard link to 'etc/shadow', which leaves the volume"),
    (member(f"{TOP}/hard", tarfile.LNKTYPE, link=f"{TOP}/../x"),
     f"member '{TOP}/hard' is a hard link to '{TOP}/../x', which leaves the volume"),
    (member(f"{TOP}/null", tarfile.CHRTYPE), f"member '{TOP}/null' is a character device, which a volume backup "
                                             "never holds"),
    (member(f"{TOP}/sda", tarfile.BLKTYPE), f"member '{TOP}/sda' is a block device, which a volume backup never holds"),
    (member(f"{TOP}/pipe", tarfile.FIFOTYPE), f"member '{TOP}/pipe' is a FIFO, which a volume backup never holds"),
    (member(f"{TOP}/sh", data=b"#!", mode=0o4755), f"member '{TOP}/sh' has the setuid or setgid bit"),
    (member(f"{TOP}/sg", data=b"#!", mode=0o2755), f"member '{TOP}/sg' has the setuid or setgid bit"),
    (member("/etc/cron.d/x", data=b"x"), "member '/etc/cron.d/x' has an absolute name"),
    (member(f"{TOP}/a/../../x", data=b"x"), f"member '{TOP}/a/../../x' has a '..' part: it leaves the volume"),
]


@pytest.mark.parametrize("hostile, why", HOSTILE_MEMBERS, ids=[why.split("' ")[1][:30] for _, why in HOSTILE_MEMBERS])
def test_verify_refuses_an_archive_member_that_leaves_the_volume_or_is_special(tmp_path, hostile, why):
    archive = tmp_path / "v.tar"
    archive.write_bytes(tar_bytes(member(f"{TOP}/ok.txt", data=b"fine"), hostile))
    assert payload.check_volume_archive(archive) == why


def test_symlinks_are_followed_through_the_archive_own_links(tmp_path):
    """`a/s -> ..` stays in the volume (it is the top); `x -> a/s/..` through it does not."""
    archive = tmp_path / "v.tar"
    archive.write_bytes(tar_bytes(member(f"{TOP}/a", tarfile.DIRTYPE, mode=0o755),
                                  member(f"{TOP}/a/s", tarfile.SYMTYPE, link=".."),
                                  member(f"{TOP}/x", tarfile.SYMTYPE, link="a/s/..")))
    assert payload.check_volume_archive(archive) == (
        f"member '{TOP}/x' is a symlink to 'a/s/..', which leaves the volume")


def test_a_link_spelled_with_a_dot_part_cannot_hide_from_the_links_it_is_followed_through(tmp_path):
    """`./d -> .` is the top; `e -> d/../etc` through it leaves the volume (review of issue 11: the link was
    stored under its raw name and looked up under the normal one, so `e` passed)."""
    archive = tmp_path / "v.tar"
    archive.write_bytes(tar_bytes(member(f"{TOP}/./d", tarfile.SYMTYPE, link="."),
                                  member(f"{TOP}/e", tarfile.SYMTYPE, link="d/../etc")))
    assert payload.check_volume_archive(archive) == f"member '{TOP}/./d' is not a plain path (a '.' or empty part)"


@pytest.mark.parametrize("name", [f"{TOP}/./x", f"{TOP}//x", f"{TOP}/a/./b", f"{TOP}/."])
def test_member_names_are_refused_unless_plain(tmp_path, name):
    archive = tmp_path / "v.tar"
    archive.write_bytes(tar_bytes(member(name, data=b"x")))
    assert payload.check_volume_archive(archive) == f"member {name!r} is not a plain path (a '.' or empty part)"


def test_links_hard_links_and_setgid_directories_inside_the_volume_are_fine(tmp_path):
    archive = tmp_path / "v.tar"
    archive.write_bytes(tar_bytes(member(f"{TOP}/shared", tarfile.DIRTYPE, mode=0o2775),
                                  member(f"{TOP}/shared/f", data=b"x"),
                                  member(f"{TOP}/shared/link", tarfile.SYMTYPE, link="../shared/f"),
                                  member(f"{TOP}/top", tarfile.SYMTYPE, link="."),
                                  member(f"{TOP}/hard", tarfile.LNKTYPE, link=f"{TOP}/shared/f")))
    assert payload.check_volume_archive(archive) is None


def test_verify_and_the_restore_refuse_a_hostile_archive_with_its_right_checksum(backed_up):
    backup = the_backup(backed_up)
    volume_file = backup.volumes["shop-data-production"]["file"]
    put_file(backup, volume_file, tar_bytes(member(f"{TOP}/etc", tarfile.SYMTYPE, link="/etc")))
    assert problems_of(backed_up) == [
        f"{volume_file}: member '{TOP}/etc' is a symlink to '/etc', which leaves the volume"]
    backed_up.forget_calls()
    with pytest.raises(PlatformError) as refused:
        restore(backed_up)
    assert str(refused.value).startswith(
        f"backup {backup.name} of {PROJECT}/{ENV} cannot be restored: {volume_file}: member '{TOP}/etc' is a "
        "symlink to '/etc', which leaves the volume; nothing was changed")
    assert "\n" not in str(refused.value)
    assert backed_up.engine.called("replace_volume_contents", "run", "exec_from") == []


# -- item 10: the .meta's paths ----------------------------------------------------------------------

def test_verify_refuses_a_meta_listing_an_absolute_path_with_its_checksum(backed_up):
    backup = the_backup(backed_up)
    data = open("/etc/hostname", "rb").read() if os.path.exists("/etc/hostname") else b""
    edit_meta(backup, lambda meta: meta["files"].__setitem__("/etc/hostname", {
        "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}))
    assert problems_of(backed_up) == [
        "'/etc/hostname': listed in the .meta's checksums but is an absolute path"]


def test_verify_refuses_meta_paths_with_dotdot_or_outside_the_payload_dirs(backed_up):
    backup = the_backup(backed_up)
    edit_meta(backup, lambda meta: (meta["files"].__setitem__("config/../../x", {"bytes": 0, "sha256": ""}),
                                    meta["files"].__setitem__("elsewhere/x", {"bytes": 0, "sha256": ""})))
    assert problems_of(backed_up) == [
        "'config/../../x': listed in the .meta's checksums but has a '..' part",
        "'elsewhere/x': listed in the .meta's checksums but is not under volumes/ or database/ or config/"]


def test_a_payload_file_replaced_by_a_symlink_is_refused_even_with_the_right_content(backed_up, tmp_path):
    backup = the_backup(backed_up)
    stored = backup.meta["config"]["env_files"][f"config/{PROJECT}/.env.{ENV}"]
    outside = tmp_path / "same-content"
    outside.write_bytes(backup.file(stored).read_bytes())
    backup.file(stored).unlink()
    backup.file(stored).symlink_to(outside)
    assert problems_of(backed_up) == [f"{stored}: {stored} is a symlink (a backup's files are never followed)"]


def test_a_dump_must_have_a_custom_format_header(tmp_path):
    dump = tmp_path / "x.dump"
    for data, why in [(b"-- PostgreSQL database dump\n", "not a pg_dump custom-format file"),
                      (b"PGDMP", "not a pg_dump custom-format file"),
                      (b"PGDMP\x01\x0e\x00\x04\x08\x03" + b"\0" * 50,
                       "a pg_dump archive in format 3, not the custom format (1) backups are made in"),
                      (b"PGDMP\x07\x0e\x00\x04\x08\x01" + b"\0" * 50,
                       "a pg_dump archive with an unexpected header (version 7.14, sizes 4/8)")]:
        dump.write_bytes(data)
        assert payload.check_dump(dump) == why
    fifo = tmp_path / "fifo.dump"
    os.mkfifo(fifo)
    assert payload.check_dump(fifo) == "cannot read: not a regular file"


# -- item 4: env files the restore writes -------------------------------------------------------------

def test_a_restore_writes_no_env_file_the_meta_names_outside_the_project(backed_up):
    """On main, this wrote lib/platform_deploy/__init__.py under the platform root."""
    backup = the_backup(backed_up)
    target = backed_up.settings.root / "lib" / "platform_deploy" / "__init__.py"
    put_file(backup, "config/env/evil", b"import os; os.system('id')\n", lambda meta: meta["config"]["env_files"]
             .__setitem__("lib/platform_deploy/__init__.py", "config/env/evil"))
    assert problems_of(backed_up) == [
        "'lib/platform_deploy/__init__.py': the .meta would write this env file, which is not under config/shop/ "
        "(only shop's own env files are restored)"]
    with pytest.raises(PlatformError, match=f"^backup {backup.name} of shop/production cannot be restored: "
                                            "'lib/platform_deploy/__init__.py': the .meta would write this env file"):
        restore(backed_up)
    assert not target.exists()


def test_a_restore_writes_no_env_file_missing_from_the_checksums(backed_up):
    backup = the_backup(backed_up)
    env = f"config/{PROJECT}/.env.{ENV}"
    backup.file("config/env/unlisted").write_bytes(b"DATABASE_URL=postgresql://postgres@x/y\n")
    edit_meta(backup, lambda meta: meta["config"]["env_files"].__setitem__(env, "config/env/unlisted"))
    assert problems_of(backed_up) == [
        "'config/env/unlisted': the .meta's copy of 'config/shop/.env.production' has no checksum in the .meta"]
    with pytest.raises(PlatformError, match="cannot be restored: 'config/env/unlisted'"):
        restore(backed_up)
    assert "postgres@x" not in (backed_up.settings.root / env).read_text()


def test_only_the_env_files_the_current_registry_names_are_restored(backed_up):
    """A file of the project's own directory that its entry does not name (any more) is left alone."""
    backup = the_backup(backed_up)
    put_file(backup, "config/env/other", b"X=1\n", lambda meta: meta["config"]["env_files"]
             .__setitem__(f"config/{PROJECT}/.env.other", "config/env/other"))
    assert problems_of(backed_up) == []
    restore(backed_up)
    assert not (backed_up.settings.root / "config" / PROJECT / ".env.other").exists()
    assert "note: env file config/shop/.env.other is not the project's any more: not restored" in \
        backed_up.out.getvalue()


def test_env_files_are_not_written_through_a_symlink(backed_up, tmp_path):
    root = backed_up.settings.root
    victim = tmp_path / "victim"
    victim.write_text("untouched\n")
    env = root / "config" / PROJECT / f".env.{ENV}"
    content = env.read_bytes()
    env.unlink()
    env.symlink_to(victim)
    with pytest.raises(PlatformError, match=f"config/{PROJECT}/.env.{ENV} is a symlink"):
        configfiles.restore_env_files(backed_up.settings, PROJECT, {f"config/{PROJECT}/.env.{ENV}": "config/env/x"},
                                      tmp_path, {})
    assert victim.read_text() == "untouched\n"
    env.unlink()
    env.write_bytes(content)


def test_a_backup_does_not_follow_an_env_file_symlink_out_of_the_project(world, tmp_path):
    env = world.settings.root / "config" / PROJECT / f".env.{ENV}"
    secret = world.settings.root / "config" / "platform" / ".env.postgres"
    secret.parent.mkdir(parents=True)
    secret.write_text("POSTGRES_PASSWORD=platform-secret\n")
    world.deploy("v1")
    env.unlink()
    env.symlink_to(secret)
    with pytest.raises(PlatformError) as refused:
        commands.create(world.engine, world.settings, world.registry, PROJECT, ENV)
    assert f": config/{PROJECT}/.env.{ENV}: env file outside config/{PROJECT}/ (it resolves to " \
        in str(refused.value) and str(refused.value).endswith("not behind links leaving it; not backed up")
    assert not any(b"platform-secret" in path.read_bytes() for path in world.settings.backups_dir.rglob("*")
                   if path.is_file())


def test_an_env_file_symlink_inside_the_project_is_backed_up(world):
    env = world.settings.root / "config" / PROJECT / f".env.{ENV}"
    real = env.with_name("env.real")
    env.rename(real)
    env.symlink_to(real.name)
    world.deploy("v1")
    world.deploy("v2", skip_backup=False)
    backup = the_backup(world)
    assert backup.file(f"config/env/config/{PROJECT}/.env.{ENV}").read_bytes() == real.read_bytes()


def test_an_env_file_copy_changed_after_the_verification_is_not_written(backed_up):
    """Between the verification and step 2 the copy is swapped for one of the same size: nothing written."""
    backup = the_backup(backed_up)
    env = f"config/{PROJECT}/.env.{ENV}"
    stored = backup.file(backup.meta["config"]["env_files"][env])
    stored.write_bytes(stored.read_bytes().replace(b"s3cret-pw", b"0wned-pwX"))
    before = (backed_up.settings.root / env).read_bytes()
    with pytest.raises(PlatformError, match=f"not the copy the backup's checksums list; nothing written to {env}"):
        configfiles.restore_env_files(backed_up.settings, PROJECT, {env: backup.meta["config"]["env_files"][env]},
                                      backup.payload_dir, backup.meta["files"])
    assert (backed_up.settings.root / env).read_bytes() == before


# -- item 5: the database is restored as the project's own role ------------------------------------

def dump_backup(tmp_path, data=b"PGDMP\x01\x0e\x00\x04\x08\x01"):
    """(backup, relative path) of a backup holding only a dump."""
    root = tmp_path / PROJECT / ENV / "backup_20250106_120000"
    root.mkdir(parents=True)
    writer = payload.PayloadWriter(root)
    writer.write_bytes("database/shop.dump", data)
    return catalog.Backup(writer.root.name, writer.root.parent, {"files": writer.files}), "database/shop.dump"


def test_the_dump_is_restored_as_the_project_role_with_psql_meta_commands_locked(tmp_path):
    engine = FakeEngine()
    database.restore(engine, DatabaseTarget("postgres-platform", "shop", "shop"), *dump_backup(tmp_path))
    (_, (container, argv)), = engine.logged("exec_from")
    script, role, name, preamble = argv[2], argv[4], argv[5], argv[7]
    assert (container, role, name) == ("postgres-platform", "shop", "shop")
    assert "-U postgres" not in script and '-U "$1" -d "$2"' in script
    assert "pg_restore --no-owner --no-privileges --restrict-key=" in script
    assert "DROP OWNED BY CURRENT_USER" in preamble and "rolsuper" in preamble


def test_a_dump_that_prints_a_success_marker_and_fails_is_not_reported_restored(tmp_path):
    """psql exits 0 when pg_restore fails (its input ends inside the transaction, which rolls back); a dump
    could print a fixed marker with RAISE NOTICE first. The marker is made for each restore."""
    class Crafted(FakeEngine):
        def exec_from(self, name, argv, chunks, environment=None):
            super().exec_from(name, argv, chunks, environment)
            return ExecResult(0, "NOTICE:  platform-restore-committed\npg_restore: error: could not read input\n")

    dump = dump_backup(tmp_path)
    with pytest.raises(PlatformError, match="^restoring database shop in postgres-platform failed, nothing was "
                                            "changed in it: NOTICE: platform-restore-committed pg_restore: error"):
        database.restore(Crafted(), DatabaseTarget("postgres-platform", "shop", "shop"), *dump)
    engine = FakeEngine()
    for _ in range(2):
        database.restore(engine, DatabaseTarget("postgres-platform", "shop", "shop"), *dump)
    first, second = (argv[-1] for _, (_, argv) in engine.logged("exec_from"))
    assert first != second and len(first) >= 32


# -- review of issue 11: the images a .meta names ------------------------------------------------------

def test_a_meta_naming_another_image_is_refused_by_verify_and_the_restore(backed_up):
    """The restore tags the .meta's image id into the project's repository and deploys it with the project's
    env files: the platform's own image (or another tenant's) must not get there."""
    backup = the_backup(backed_up)
    nginx_image = backed_up.engine.containers["platform-nginx"].image_id
    edit_meta(backup, lambda meta: meta["images"]["backend"].__setitem__("image_id", nginx_image))
    problem = (f"image of backend ({nginx_image[:19]}) carries no tag or digest of registry.test/app-backend: it is "
               "not the project's image")
    said = []
    assert commands.verify(backed_up.engine, backed_up.settings, backed_up.registry, PROJECT, ENV, backup.name,
                           said.append) == 1
    assert said == [f"{backup.name}: FAILED", f"  {problem}"]
    backed_up.forget_calls()
    with pytest.raises(PlatformError) as refused:
        restore(backed_up)
    assert str(refused.value).startswith(f"backup {backup.name} of {PROJECT}/{ENV} cannot be restored: {problem}; "
                                         "nothing was changed")
    assert backed_up.engine.called("tag", "run", "replace_volume_contents", "exec_from") == []


def test_a_backup_this_tool_made_passes_the_image_check(backed_up):
    backup = the_backup(backed_up)
    assert catalog.verify(backup, backed_up.engine.image, commands.image_repositories(
        backed_up.registry.project(PROJECT))) == []
    restore(backed_up)
    assert backed_up.serving() == {"shop-backend-production": f"registry.test/app-backend:{backup.name}-{ENV}",
                                   "shop-frontend-production": f"registry.test/app-frontend:{backup.name}-{ENV}"}


# -- review of issue 11: a file swapped after the verification ---------------------------------------

def swap_later(world, method: str, relative: str, swapped) -> tuple[bytes, bytes]:
    """At the first call of ``method`` after now, replace the backup's file ``relative`` with
    ``swapped(bytes)``, of the same size (the quick look before writing sees no change); (before, after)."""
    path = the_backup(world).file(relative)
    verified = path.read_bytes()
    after = swapped(verified)
    assert len(after) == len(verified) and after != verified
    done = []
    world.engine.before(method, lambda *args: done or (path.write_bytes(after), done.append(1)))
    return verified, after


def test_a_volume_archive_swapped_after_the_verification_is_not_written(backed_up):
    """The pre-restore backup runs between the verification and the writes: the swap is found, the restore
    fails before the volume is touched, and the saved state is put back."""
    backup = the_backup(backed_up)
    relative = backup.volumes["shop-data-production"]["file"]
    _, hostile = swap_later(backed_up, "archive_volume", relative,
                            lambda _: tar_bytes(member(f"{TOP}/etc", tarfile.SYMTYPE, link="/etc")))
    with pytest.raises(PlatformError) as failed:
        restore(backed_up)
    assert (f"{relative} of backup {backup.name} changed since it was verified: SHA-256 checksum mismatch (the "
            "file changed after the backup); not written") in str(failed.value)
    assert hostile not in backed_up.engine.fed.values()


def test_a_dump_swapped_after_the_verification_is_not_fed_to_psql(backed_up):
    backup = the_backup(backed_up)
    relative = backup.database["file"]
    _, evil = swap_later(backed_up, "exec_to", relative, lambda data: data.replace(b"fake", b"evil"))
    with pytest.raises(PlatformError) as failed:
        restore(backed_up, with_database=True)
    assert f"{relative} of backup {backup.name} changed since it was verified: SHA-256 checksum mismatch" in \
        str(failed.value)
    assert evil not in backed_up.engine.fed.values()


@pytest.mark.parametrize("method, what", [("replace_volume_contents", "volume"), ("exec_from", "database")])
def test_what_is_streamed_is_the_copy_that_was_checked_not_the_file_as_it_is_then(backed_up, method, what):
    backup = the_backup(backed_up)
    relative = backup.volumes["shop-data-production"]["file"] if what == "volume" else backup.database["file"]
    verified, _ = swap_later(backed_up, method, relative, lambda data: data[:-4] + b"evil")
    restore(backed_up, with_database=True)
    assert backed_up.engine.fed["shop-data-production" if what == "volume" else "postgres-platform"] == verified


def test_the_image_check_runs_again_just_before_the_restore_tags_an_image(backed_up):
    """Between the verification and step 2 the image loses every tag of its repository: nothing is tagged."""
    backup = the_backup(backed_up)
    image_id = backup.images["frontend"]["image_id"]
    engine = backed_up.engine

    def retag(*args):
        for reference in [name for name, image in engine.images.items() if image.id == image_id]:
            engine.images[f"other/repo:{len(engine.images)}"] = engine.images.pop(reference)

    engine.before("data_root", retag)   # the pre-flight's disk check
    backed_up.forget_calls()
    with pytest.raises(PlatformError) as refused:
        restore(backed_up)
    assert (f"backup {backup.name}: image of frontend ({image_id[:19]}) carries no tag or digest of "
            "registry.test/app-frontend: it is not the project's image; nothing was changed") in str(refused.value)
    assert engine.called("tag", "replace_volume_contents") == []
