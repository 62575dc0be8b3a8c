"""Backups on disk: payload files and their checksums, listing, verification (no Docker: files only)."""

import hashlib
import io
import json
import tarfile
from types import SimpleNamespace

import pytest

from platform_deploy.backup import catalog, commands, layout, payload, trust
from platform_deploy.engine import ImageInfo
from platform_deploy.errors import PlatformError

PROJECT, ENV = "demo", "production"
VOLUME = "demo-data-production"
DUMP = b"PGDMP\x01\x0e\x00\x04\x08\x01" + b"\x00" * 200   # version 1.14, int 4, offset 8, custom


def volume_tar(entries=(("platform-volume/a.txt", b"hello\n"),), top="platform-volume") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        directory = tarfile.TarInfo(top)
        directory.type = tarfile.DIRTYPE
        archive.addfile(directory)
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture
def settings(tmp_path):
    return SimpleNamespace(backups_dir=tmp_path / "backups")


def make_backup(settings, name="backup_20250106_120000", tar=None, images=None) -> catalog.Backup:
    """A backup as create() leaves it: payload written through PayloadWriter, then the .meta."""
    directory = layout.backup_dir(settings, PROJECT, ENV)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    (directory / name).mkdir(mode=0o700)
    writer = payload.PayloadWriter(directory / name)
    writer.write_bytes(f"volumes/{VOLUME}.tar", tar if tar is not None else volume_tar())
    writer.write_bytes("database/demo_production.dump", DUMP)
    writer.write_bytes("config/env/config/demo/.env.production", b"SECRET_KEY=s3cr3t\n")
    meta = {"name": name, "project": PROJECT, "environment": ENV, "created_at": "2025-01-06T12:00:00Z",
            "reason": "manual",
            "images": images or {"backend": {"image": f"r/b:{name}-{ENV}", "image_id": "sha256:1"}},
            "volumes": {VOLUME: {"file": f"volumes/{VOLUME}.tar", "mount": "/data"}},
            "database": {"database": "demo_production", "file": "database/demo_production.dump"},
            "files": writer.files, "total_bytes": writer.total_bytes}
    layout.meta_path(directory, name).write_text(json.dumps(meta))
    return catalog.read(directory, name)


def test_payload_files_are_private_checksummed_and_never_overwritten(settings):
    backup = make_backup(settings)
    for relative, info in backup.meta["files"].items():
        data = backup.file(relative).read_bytes()
        assert info == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        assert backup.file(relative).stat().st_mode & 0o777 == 0o600
    assert backup.file("config/env/config/demo").stat().st_mode & 0o777 == 0o700
    writer = payload.PayloadWriter(backup.payload_dir)
    with pytest.raises(FileExistsError):
        writer.write_bytes("database/demo_production.dump", b"other")


def test_a_complete_backup_verifies(settings):
    backup = make_backup(settings)
    assert catalog.verify(backup, lambda image_id: ImageInfo(image_id, None, tags=(f"r/b:{backup.name}-{ENV}",)),
                          {"backend": "r/b"}) == []
    assert catalog.verify_files_present(backup) == []


def test_a_changed_byte_is_a_checksum_mismatch(settings):
    backup = make_backup(settings)
    path = backup.file(f"volumes/{VOLUME}.tar")
    data = bytearray(path.read_bytes())
    data[600] ^= 0xFF
    path.write_bytes(bytes(data))
    assert catalog.verify_files(backup) == [
        f"volumes/{VOLUME}.tar: SHA-256 checksum mismatch (the file changed after the backup)"]


def test_a_truncated_or_missing_file_is_named(settings):
    backup = make_backup(settings)
    dump = backup.file("database/demo_production.dump")
    dump.write_bytes(DUMP[:10])
    backup.file("config/env/config/demo/.env.production").unlink()
    assert catalog.verify_files(backup) == [
        "config/env/config/demo/.env.production: missing",
        f"database/demo_production.dump: 10 bytes, expected {len(DUMP)}"]
    assert catalog.verify_files_present(backup) == catalog.verify_files(backup)


def test_an_archive_that_is_not_a_volume_tar_is_refused_even_with_a_right_checksum(settings):
    assert catalog.verify_files(make_backup(settings, tar=b"x" * 1024)) == [
        f"volumes/{VOLUME}.tar: not a readable tar archive (invalid header)"]
    escaping = volume_tar([("platform-volume/../../etc/passwd", b"x")])
    assert catalog.verify_files(make_backup(settings, "backup_20250106_120001", tar=escaping)) == [
        f"volumes/{VOLUME}.tar: member 'platform-volume/../../etc/passwd' has a '..' part: it leaves the volume"]
    elsewhere = volume_tar([("etc/passwd", b"x")], top="etc")
    assert catalog.verify_files(make_backup(settings, "backup_20250106_120002", tar=elsewhere)) == [
        f"volumes/{VOLUME}.tar: member 'etc' is not under platform-volume/"]


def test_a_dump_must_be_a_pg_dump_custom_file(settings, tmp_path):
    path = tmp_path / "plain.sql"
    path.write_bytes(b"-- PostgreSQL database dump\n")
    assert payload.check_dump(path) == "not a pg_dump custom-format file"


def test_missing_images_and_damaged_metas_are_reported(settings):
    backup = make_backup(settings)
    assert catalog.verify(backup, lambda image_id: None, {"backend": "r/b"}) == [
        f"image of backend (r/b:{backup.name}-{ENV}, sha256:1) is no longer on this machine"]
    backup.meta_file.write_text("{broken")
    broken = catalog.read(backup.directory, backup.name)
    assert broken.meta is None and catalog.verified_state(broken) == "UNREADABLE"
    assert catalog.verify_files(broken)[0].startswith(f"{backup.name}.meta: unreadable .meta")
    backup.meta_file.write_text(json.dumps({"name": backup.name, "images": {}}))
    old = catalog.read(backup.directory, backup.name)
    assert catalog.verify_files(old) == [f"{backup.name}.meta: made by an older version (images only, no checksums)"]


def test_backups_are_listed_newest_first_and_interrupted_ones_apart(settings):
    for name in ("backup_20250106_120000", "backup_20250106_120000_2", "backup_20250105_090000"):
        make_backup(settings, name)
    directory = layout.backup_dir(settings, PROJECT, ENV)
    (directory / "backup_20250107_000000").mkdir()          # no .meta: interrupted
    (directory / "notes.txt").write_text("ignored")
    assert [b.name for b in catalog.backups(settings, PROJECT, ENV)] == [
        "backup_20250106_120000_2", "backup_20250106_120000", "backup_20250105_090000"]
    assert [p.name for p in catalog.orphans(settings, PROJECT, ENV)] == ["backup_20250107_000000"]
    assert catalog.resolve(settings, PROJECT, ENV, None).name == "backup_20250106_120000_2"
    with pytest.raises(PlatformError) as missing:
        catalog.resolve(settings, PROJECT, ENV, "backup_20250107_000000")
    assert str(missing.value) == (f"backup backup_20250107_000000 of demo/production not found in {directory}; "
                                  "it is incomplete (interrupted); list the backups with: invoke backup.list "
                                  "--project demo --env production")


def test_no_backups_at_all_is_a_clear_error(settings):
    with pytest.raises(PlatformError) as none:
        catalog.resolve(settings, PROJECT, ENV, None)
    assert str(none.value) == f"no backups of demo/production in {settings.backups_dir / PROJECT / ENV}"


def test_verification_is_kept_in_the_meta_and_shown_by_list(settings):
    backup = make_backup(settings)
    assert catalog.verified_state(backup) == "not verified"
    catalog.record_verification(backup, ["volumes/x.tar: missing"])
    again = catalog.read(backup.directory, backup.name)
    assert catalog.verified_state(again).startswith("FAILED 20")
    assert again.meta["verification"]["problems"] == ["volumes/x.tar: missing"]
    assert backup.meta_file.stat().st_mode & 0o777 == 0o600
    table = commands.table(settings, PROJECT, ENV, catalog.backups(settings, PROJECT, ENV))
    lines = table.splitlines()
    assert lines[0] == f"demo/production: 1 backup(s) in {settings.backups_dir / PROJECT / ENV}, newest first"
    assert lines[1].split() == ["NAME", "CREATED", "(UTC)", "SIZE", "IMAGES", "DATABASE", "VERIFIED", "REASON"]
    assert lines[2].split()[:6] == [backup.name, "2025-01-06T12:00:00Z", "10.5", "KB", "1", "yes"]
    assert "s3cr3t" not in table


def test_an_image_must_carry_a_tag_or_digest_of_the_roles_repository(settings):
    """A .meta's image id is data: another tenant's image or the platform's is refused (review of issue 11)."""
    backup = make_backup(settings)
    def verified(**found):
        return catalog.verify(backup, lambda image_id: ImageInfo(image_id, None, **found), {"backend": "r/b"})

    assert verified(tags=("platform-postgres:local",)) == [
        "image of backend (sha256:1) carries no tag or digest of r/b: it is not the project's image"]
    assert verified(tags=("r/b-other:v1", "r:b"), digests=("r/bb@sha256:" + "1" * 64,))[0].startswith(
        "image of backend (sha256:1) carries no tag or digest of r/b")
    assert verified(tags=(), digests=("r/b@sha256:" + "1" * 64,)) == []
    assert verified(tags=("other:v1", "r/b:v7")) == []
    assert catalog.verify(backup, lambda image_id: ImageInfo(image_id, None), {}) == []   # not a role any more


@pytest.mark.parametrize("repository, tag", [("docker.io/library/nginx", "nginx:1"), ("nginx", "nginx:1"),
                                             ("docker.io/user/app", "user/app:v1"),
                                             ("registry.test:5000/app", "registry.test:5000/app:v1")])
def test_docker_hub_names_and_registry_ports_are_read_as_docker_shows_them(repository, tag):
    assert trust.image_problem(ImageInfo("sha256:1", None, tags=(tag,)), repository) is None
    assert trust.image_problem(ImageInfo("sha256:1", None, tags=(f"x{tag}",)), repository)
