"""Issue 11, output safety: env files confined and not interpolated, container text made printable,
secrets scrubbed by value, state files private, damaged state files reported in one line."""

import io
import json
import os
import stat

import pytest
from deploy_world import BACKEND, ENV, PROJECT, world  # noqa: F401 - a fixture
from fakes import FakeEngine

from platform_deploy import envfiles, redact
from platform_deploy.config.load import parse_registry
from platform_deploy.deploy import preflight, scrubbing
from platform_deploy.errors import PlatformError
from platform_deploy.report import ConsoleReport, Scrubbed
from platform_deploy.settings import Settings
from platform_deploy.status import show
from platform_deploy.textutil import one_line, printable

HOSTILE = ["p@ss/w rd", "a.b*c+d?(e)[f]{3}|^$\\1", "pässwörd-ünïcode-密码", "x\" ' ; & `y` $(z)"]

REGISTRY = b"""\
projects:
  demo:
    domains: {production: demo.test}
    containers:
      web: {name: demo-web, port: 8000, image: registry.test/demo}
"""


@pytest.fixture
def demo(tmp_path):
    settings = Settings(root=tmp_path / "root", deployments_dir=tmp_path / "deployments",
                        backups_dir=tmp_path / "backups")
    (settings.root / "config" / "demo").mkdir(parents=True)
    registry = parse_registry(REGISTRY)
    return settings, registry.project("demo")


def read(settings, project):
    return envfiles.read_env(settings, project, "production", project.containers[0])


def point_env_file(project, relative: str):
    """The container's env_file as another validator may let through (object.__setattr__: frozen records)."""
    object.__setattr__(project.containers[0], "env_file", relative)


# --- item 2 (read time): an env file lies inside config/<project>/, symlinks resolved -----------------

def test_an_env_file_of_the_platform_or_another_project_is_refused_at_read(demo):
    settings, project = demo
    (settings.root / "config" / "platform").mkdir()
    (settings.root / "config" / "platform" / ".env.postgres").write_text("POSTGRES_PASSWORD=root-secret\n")
    point_env_file(project, "config/platform/.env.postgres")
    with pytest.raises(PlatformError) as refused:
        read(settings, project)
    message = str(refused.value)
    assert "\n" not in message and "root-secret" not in message
    assert message.startswith("config/platform/.env.postgres: ") and "config/demo/" in message


def test_a_symlink_leaving_the_project_directory_is_refused(demo, tmp_path):
    settings, project = demo
    outside = tmp_path / "host-secret"
    outside.write_text("HOST=secret\n")
    (settings.root / "config" / "demo" / ".env.production").symlink_to(outside)
    with pytest.raises(PlatformError, match=r"^config/demo/\.env\.production: .*config/demo/"):
        read(settings, project)
    checked = preflight.check_env(settings, project, "production")
    assert not checked.ok and "outside config/demo/" in checked.detail


@pytest.mark.parametrize("linked", ["config/demo", "config"])
def test_a_symlinked_project_or_config_directory_is_refused(demo, linked):
    """config/<project> (or config/) committed as a symlink to the platform's or another tenant's directory:
    the file's resolved path then lies inside the resolved directory, so that alone proves nothing."""
    settings, project = demo
    victim = settings.root / "victim"
    victim.mkdir()
    (victim / ".env.production").write_text("POSTGRES_PASSWORD=platform-secret\n")
    (victim / "demo").mkdir()
    (victim / "demo" / ".env.production").write_text("POSTGRES_PASSWORD=platform-secret\n")
    target = settings.root / linked
    for child in sorted(target.rglob("*"), reverse=True):
        child.rmdir()
    target.rmdir()
    target.symlink_to(victim)
    with pytest.raises(PlatformError, match=rf"^config/demo/\.env\.production: env file outside config/demo/ "
                                            rf"\({linked} is a symlink\)"):
        read(settings, project)
    assert not preflight.check_env(settings, project, "production").ok


def test_a_missing_env_file_is_still_empty_and_a_symlink_inside_is_fine(demo):
    settings, project = demo
    assert read(settings, project) == {}
    (settings.root / "config" / "demo" / "shared.env").write_text("A=1\n")
    (settings.root / "config" / "demo" / ".env.production").symlink_to("shared.env")
    assert read(settings, project) == {"A": "1"}


# --- item 9: no interpolation from the deployer's environment -------------------------------------------

def test_env_files_are_not_expanded_with_the_deployers_environment(demo, monkeypatch):
    settings, project = demo
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_operator_token")
    (settings.root / "config" / "demo" / ".env.production").write_text(
        "X=${GITHUB_TOKEN}\nY=$GITHUB_TOKEN\nZ=${GITHUB_TOKEN:-fallback}\n")
    assert read(settings, project) == {"X": "${GITHUB_TOKEN}", "Y": "$GITHUB_TOKEN",
                                       "Z": "${GITHUB_TOKEN:-fallback}"}


# --- item 12: text from containers is made printable ---------------------------------------------------

def test_printable_strips_escape_sequences_and_controls_but_keeps_newlines():
    text = "ok\x1b[2J\x1b[31mred\x1b[0m\x1b]0;title\x07 bell\x07 del\x7f c1\x9b31m\r\nnext\tline\x00"
    assert printable(text) == "okred bell del c131m\nnext\tline"
    assert one_line(text) == "okred bell del c131m next line"


@pytest.mark.parametrize("invisible", [*map(chr, range(0x202A, 0x202F)), *map(chr, range(0x2066, 0x206A)),
                                       "\u200e", "\u200f", "\u061c", "\u200b", "\u200c", "\u200d", "\ufeff",
                                       "\u2060"])
def test_printable_strips_bidi_and_invisible_format_characters(invisible):
    assert printable(f"rolled{invisible} back: admin{invisible}") == "rolled back: admin"


def test_printable_keeps_ordinary_text_and_emoji():
    text = "déployé ✅ 🚀 ❤\ufe0f 日本語 עברית 🇩🇪 👍🏽\tok"
    assert printable(text) == text
    assert printable("👨\u200d👩\u200d👧") == "👨👩👧"   # a ZWJ sequence: its emoji side by side


def test_container_logs_in_a_failed_health_check_are_printable(world, monkeypatch):  # noqa: F811
    world.engine.registry["registry.test/app-frontend:v2"].status = "exited"
    monkeypatch.setattr(world.engine, "logs_tail", lambda name, lines=5: "boom\x1b]0;pwned\x07\x1b[2Jgone")
    world.failed_deploy("v2")
    assert "boompwned" not in world.out.getvalue() and "boomgone" in world.out.getvalue()
    assert "\x1b" not in world.out.getvalue()
    assert "\x1b" not in json.dumps(world.manifest(), ensure_ascii=False)


def test_migration_output_is_printable_and_scrubbed_in_the_report_and_the_manifest(world):  # noqa: F811
    world.engine.failing_commands["alembic upgrade"] = (
        "\x1b[31mconnection to postgresql://shop:s3cret-pw@postgres-platform:5432/shop failed\x1b[0m\n"
        "password=s3cret-pw also the bare value s3cret-pw")
    world.failed_deploy("v2")
    shown, recorded = world.out.getvalue(), json.dumps(world.manifest(), ensure_ascii=False)
    for text in (shown, recorded):
        assert "s3cret-pw" not in text and "\x1b" not in text
    assert "postgresql://***@postgres-platform:5432/shop" in recorded


def write_manifest(settings, data, project="filter-ical", environment="production"):
    directory = settings.deployments_dir / project / environment
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "manifest.json").write_text(data if isinstance(data, str) else json.dumps(data))
    return directory / "manifest.json"


def an_attempt(**changes):
    return {"deploy_id": "20250101120000-ab01", "version": "v1", "deployed_at": "2025-01-01T12:00:00Z",
            "deployed_by": "ci", "status": "rolled_back", "duration_seconds": 1.0, "backup": None,
            "steps": [{"step": "5", "name": "health", "status": "failed", "seconds": 1.0, "detail": "d"}],
            "failure": "health failed", "rollback": ["removed x"], **changes}


def a_manifest(*attempts):
    return {"project": "filter-ical", "environment": "production", "schema_version": 2,
            "current_deployment": None, "last_attempt": attempts[0], "deployment_history": list(attempts)}


@pytest.fixture
def status_world(tmp_path):
    from seed import DEPLOYMENT_EXAMPLE
    settings = Settings(root=tmp_path / "root", deployments_dir=tmp_path / "deployments",
                        backups_dir=tmp_path / "backups")
    return settings, parse_registry(DEPLOYMENT_EXAMPLE.encode())


def test_status_and_history_print_no_escape_sequences_from_old_records(status_world):
    settings, registry = status_world
    write_manifest(settings, a_manifest(an_attempt(failure="died: \x1b[2J\x1b]0;x\x07wiped",
                                                   rollback=["removed \x1b[5mx"])))
    for which in ("current", "history"):
        shaped = show.view(FakeEngine(), settings, registry, "filter-ical", "production", which)
        for as_json in (False, True):
            assert "\x1b" not in show.render(which, shaped, as_json=as_json).encode().decode("unicode_escape")


BROKEN = {
    "not JSON": '{"project": ',
    "a JSON list": [],
    "history not a list": {**a_manifest(an_attempt()), "deployment_history": "abc"},
    "failure a number": a_manifest(an_attempt(failure=5)),
    "backup a number": a_manifest(an_attempt(backup=5)),
    "deployed_at a list": a_manifest(an_attempt(deployed_at=[1])),
    "step detail a number": a_manifest(an_attempt(failure=None, steps=[{"step": "5", "status": "failed",
                                                                          "detail": 7}])),
    "backup a list": a_manifest(an_attempt(backup=["x"])),
    "image a number": a_manifest(an_attempt(images={"web": 5})),
    "a migration without its keys": {"deployment_history": [{"migrations": [{}]}]},
    "a step not a map": a_manifest(an_attempt(steps=[["5"]])),
    "nested too deeply": "[" * 100000,
}


@pytest.mark.parametrize("which", ["current", "history"])
@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_malformed_manifest_is_one_line_naming_the_file(status_world, case, which):
    settings, registry = status_world
    file = write_manifest(settings, BROKEN[case])
    with pytest.raises(PlatformError) as refused:
        show.render(which, show.view(FakeEngine(), settings, registry, "filter-ical", "production", which))
    assert str(file) in str(refused.value) and "\n" not in str(refused.value)


def test_an_unreadable_manifest_is_one_line_naming_the_file(status_world):
    settings, registry = status_world
    file = write_manifest(settings, a_manifest(an_attempt()))
    file.unlink()
    file.mkdir()   # reading it fails with an OSError, as an unreadable file does (tests may run as root)
    with pytest.raises(PlatformError, match=rf"^{file}: cannot read: "):
        show.view(FakeEngine(), settings, registry, "filter-ical", "production")


def test_metrics_skip_malformed_manifests_with_a_warning(status_world):
    settings, _ = status_world
    for number, case in enumerate(sorted(BROKEN)):
        write_manifest(settings, BROKEN[case], project=f"broken{number}")
    write_manifest(settings, a_manifest(an_attempt()), project="good")
    warnings = []
    collected = show.all_metrics(settings, warn=warnings.append)
    assert [(m.project, m.attempts) for m in collected] == [("good", 1)]
    assert len(warnings) == len(BROKEN)
    assert all("manifest.json" in warning and "skipped" in warning and "\n" not in warning for warning in warnings)


def test_state_files_are_private(world):  # noqa: F811
    world.deploy("v1")
    entries = [world.state_dir, world.state_dir.parent, world.state_dir / "manifest.json"]
    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in entries}
    assert modes == {ENV: 0o700, PROJECT: 0o700, "manifest.json": 0o600}


def test_an_older_state_directory_is_made_private(world):  # noqa: F811
    world.state_dir.mkdir(parents=True, mode=0o755)
    os.chmod(world.state_dir, 0o755)
    world.deploy("v1")
    assert stat.S_IMODE(world.state_dir.stat().st_mode) == 0o700


# --- item 14: scrubbing by value, URL credentials, key=value secrets ---------------------------------

@pytest.mark.parametrize("value", HOSTILE)
def test_scrubber_removes_hostile_values_whatever_they_hold(value):
    scrub = redact.Scrubber.from_env({"DB_PASSWORD": value, "NOTE": "ordinary"})
    text = f"before {value} middle {value}after"
    assert scrub(text) == "before *** middle ***after"


@pytest.mark.parametrize("value", HOSTILE)
def test_url_credentials_with_any_password(value):
    text = f"could not connect to postgresql://shop:{value}@db.internal:5432/shop: refused"
    assert redact.url_credentials(text) == "could not connect to postgresql://***@db.internal:5432/shop: refused"


def test_url_credentials_keep_what_is_not_a_password():
    assert redact.url_credentials("see https://example.test/a@b and https://u@h/x") == \
        "see https://example.test/a@b and https://***@h/x"


@pytest.mark.parametrize("text, expected", [
    ("FATAL: password=hunter2 host=db", "FATAL: password=*** host=db"),
    ("secret: abc/def@ghi", "secret: ***"),
    ('{"api_token": "t0k3n with spaces", "user": "bob"}', '{"api_token": "***", "user": "bob"}'),
    ("PGPASSWORD='q w/e@r' psql", "PGPASSWORD='***' psql"),
    ("password authentication failed for user shop", "password authentication failed for user shop"),
])
def test_key_value_secrets(text, expected):
    assert redact.Scrubber.from_env({})(text) == expected


def test_which_values_are_scrubbed():
    scrub = redact.Scrubber.from_env({
        "SECRET_KEY": "abcd",                   # secret-named: 4 characters are enough
        "API_TOKEN": "xyz",                     # too short to scrub anywhere
        "WEBHOOK": "Zq8-long-value",            # 8+ characters: a secret whatever the name
        "NODE_ENV": "production",               # a public name the caller keeps: would wipe out every line
        "PORT": "80008000",                     # a number
        "PIN_SECRET": "12345678",               # ... but not when named like a secret
        "AUTH_ENABLED": "true",                 # a flag
        "DATABASE_URL": "postgresql://shop:pw%2Fx@db/shop",
    }, keep={"production"})
    assert scrub("abcd xyz Zq8-long-value production 80008000 12345678 true pw/x pw%2Fx") == \
        "*** xyz *** production 80008000 *** true *** ***"


@pytest.mark.parametrize("value", [
    "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",   # openssl rand -hex 32
    "abcdefgh12", "lowercase.name-like_value", "postgres-platform",
])
def test_lowercase_values_are_secrets_unless_the_caller_keeps_them(value):
    assert redact.Scrubber.from_env({"SIGNING_SALT": value, "HMAC": value})(f"salt {value}.") == "salt ***."
    assert redact.Scrubber.from_env({"HMAC": value}, keep={value})(f"salt {value}.") == f"salt {value}."
    assert redact.Scrubber.from_env({}, keep={value}).including({"HMAC": value})(value) == value


def test_a_deploy_keeps_the_projects_public_names_and_hides_lowercase_secrets(world):  # noqa: F811
    salt = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    env_file = world.settings.root / "config" / PROJECT / f".env.{ENV}"
    env_file.write_text(env_file.read_text() + f"NODE_ENV={ENV}\nDB_HOST=postgres-platform\nSERVICE={BACKEND}\n"
                        f"DOMAIN=shop.test\nHMAC=abcdefgh12\nSIGNING_SALT={salt}\n")
    world.engine.failing_commands["alembic upgrade"] = f"salt {salt} hmac abcdefgh12 on {BACKEND}"
    summary = world.failed_deploy("v2")
    for text in (summary, world.out.getvalue(), json.dumps(world.manifest())):
        assert salt not in text and "abcdefgh12" not in text
    assert f"salt *** hmac *** on {BACKEND}" in world.step("migrations")["detail"]
    assert f"{PROJECT}/{ENV}" in summary and "postgres-platform" in world.out.getvalue()


def test_the_public_names_a_deploy_keeps(world):  # noqa: F811
    names = scrubbing.public_names(world.settings, world.registry.project(PROJECT))
    assert {PROJECT, ENV, "shop.test", BACKEND, "shop-backend", "backend", "shop-production", "shop-data-production",
            "platform-nginx", "postgres-platform", "shop"} <= names
    assert not any("s3cret" in name for name in names)


def test_a_value_split_by_control_characters_or_whitespace_is_still_scrubbed():
    scrub = redact.Scrubber.from_env({"DB_PASSWORD": "p@ss/w  rd"})
    assert scrub("x p@ss\x1b[0m/w  rd y") == "x *** y"
    assert scrub(one_line("x p@ss/w  rd y")) == "x *** y"


def test_the_console_report_prints_through_a_scrubber():
    out = io.StringIO()
    report = Scrubbed(ConsoleReport(out), redact.Scrubber.from_env({"DB_PASSWORD": "p@ss/w rd"}))
    report.step("4.5", "migrations", "failed", 1.0, "psql: p@ss/w rd\x1b[2J")
    report.line("line p@ss/w rd")
    report.summary("summary p@ss/w rd")
    assert "p@ss/w rd" not in out.getvalue() and "\x1b" not in out.getvalue()
    assert out.getvalue().count("***") == 3


def test_a_deploy_scrubs_env_values_from_report_manifest_and_notifications(world):  # noqa: F811
    env_file = world.settings.root / "config" / PROJECT / f".env.{ENV}"
    env_file.write_text(env_file.read_text() + "SIGNING_KEY=p@ss/w rd\n")
    world.engine.failing_commands["alembic upgrade"] = "key was p@ss/w rd; cannot sign"
    summary = world.failed_deploy("v2")
    log = (world.settings.deployments_dir / "notifications.log").read_text()
    for text in (summary, world.out.getvalue(), json.dumps(world.manifest(), ensure_ascii=False), log):
        assert "p@ss/w rd" not in text
    assert "key was *** ; cannot sign" in world.step("migrations")["detail"].replace("***;", "*** ;")
    assert BACKEND


def test_notifications_hide_key_value_secrets_and_controls(tmp_path, monkeypatch):
    from platform_deploy import notify
    for name in ("SLACK_WEBHOOK_URL", "PLATFORM_WEBHOOK_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(root=tmp_path, deployments_dir=tmp_path / "deployments", backups_dir=tmp_path / "b")
    notify.notify(settings, "failure", "demo", "production", failure="psql: password=p@ss/w\x1b[2J failed")
    record = json.loads((settings.deployments_dir / notify.LOG_NAME).read_text())
    assert record["failure"] == "psql: password=*** failed"


def test_values_written_after_the_deploy_started_are_scrubbed_too(world, monkeypatch):  # noqa: F811
    """A restore's step 2 writes the backup's env files: the values the candidates get are scrubbed as well."""
    from platform_deploy.deploy import pipeline
    deployment = world.deployment("v2")
    env_file = world.settings.root / "config" / PROJECT / f".env.{ENV}"
    env_file.write_text(env_file.read_text() + "SIGNING_KEY=later p@ss\n")
    world.engine.failing_commands["alembic upgrade"] = "key was later p@ss"
    with pytest.raises(pipeline.DeployFailed) as failed:
        deployment.run()
    assert "later p@ss" not in str(failed.value) + world.out.getvalue() + json.dumps(world.manifest())
