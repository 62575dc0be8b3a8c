"""Pre-flight checks against real temporary git repos, env files and directories."""

import os
import subprocess
from dataclasses import replace

import pytest

from platform_deploy import envfiles, gitrepo
from platform_deploy.config import maintenance
from platform_deploy.config.load import parse_registry
from platform_deploy.deploy import preflight
from platform_deploy.deploy.preflight import Check, run_checks
from platform_deploy.envfiles import read_env
from platform_deploy.errors import PlatformError
from platform_deploy.nginx import files
from platform_deploy.nginx.render import MARKER as GENERATED_MARKER
from platform_deploy.settings import Settings

MARKER = "s3cr3t-MARKER-value"
PROJECTS_YML = b"""\
projects:
  demo:
    domains:
      production: demo.example.com
      staging: staging.demo.example.com
    containers:
      backend: {name: demo-backend, port: 3000}
      frontend: {name: demo-frontend, port: 80}
      worker: {name: demo-worker, port: 9000, env_file: "config/{project}/worker.env.{environment}"}
    required_env: [DATABASE_URL, SECRET_KEY]
"""
SHARED_ENV = "config/demo/.env.production"
WORKER_ENV = "config/demo/worker.env.production"
GIT_IDENTITY = {"GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.com",
                "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.com"}


@pytest.fixture(autouse=True)
def isolated_git(tmp_path, monkeypatch):
    """Neither the tests' git nor preflight's git may read the user's git config."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


def git(cwd, *args):
    env = {**os.environ, **GIT_IDENTITY}
    return subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True,
                          env=env).stdout


def commit_all(repo, message="change"):
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", message)


@pytest.fixture
def registry():
    return parse_registry(PROJECTS_YML)


@pytest.fixture
def project(registry):
    return registry.project("demo")


@pytest.fixture
def settings(tmp_path):
    root = tmp_path / "platform"
    root.mkdir()
    return Settings(root=root, deployments_dir=tmp_path / "deployments", backups_dir=tmp_path / "backups",
                    certs_dir=tmp_path / "certs")


def write_platform(settings, registry):
    """A platform checkout: projects.yml, the generated nginx file, ignored env files."""
    (settings.root / "config").mkdir(exist_ok=True)
    settings.projects_file.write_bytes(PROJECTS_YML)
    (settings.root / ".gitignore").write_text(".env*\n*.env.*\n")
    files.apply(settings, files.plan(settings, registry))


def write_env(settings, relative, text, mode=0o600):
    path = settings.root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def write_good_env(settings):
    write_env(settings, SHARED_ENV, f"DATABASE_URL=postgresql://u:{MARKER}@db/demo\nSECRET_KEY={MARKER}\n")
    write_env(settings, WORKER_ENV, "QUEUE=default\n")


@pytest.fixture
def synced(tmp_path, settings, registry):
    """settings.root as a clone in sync with a bare remote; returns the remote's path."""
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "--quiet", "--bare", "-b", "main", str(remote)], check=True)
    git(settings.root, "init", "--quiet", "-b", "main")
    write_platform(settings, registry)
    commit_all(settings.root, "platform")
    git(settings.root, "remote", "add", "origin", str(remote))
    git(settings.root, "push", "--quiet", "-u", "origin", "main")
    return remote


def passing_nginx():
    return None


def failing_nginx():
    raise PlatformError('nginx rejected the configuration: unknown directive "bogus" in /etc/nginx/conf.d/x.conf:3')


def checks(settings, project, registry=None, **overrides):
    arguments = {"docker_root": None, "min_free_bytes": 0, "nginx_test": passing_nginx, "registry": registry}
    arguments.update(overrides)
    return {check.name: check for check in run_checks(settings, project, "production", **arguments)}


# --- the whole run ---------------------------------------------------------------------------

def test_all_checks_pass_on_a_clean_synced_platform(settings, project, registry, synced):
    write_good_env(settings)
    result = run_checks(settings, project, "production", docker_root=None, min_free_bytes=0,
                        nginx_test=passing_nginx, registry=registry)
    assert [check.name for check in result] == ["disk space", "platform repo sync", "nginx config",
                                                "environment variables"]
    assert all(check.ok and not check.skipped for check in result), result
    assert all("\n" not in check.detail for check in result)


def test_unknown_environment_is_refused_before_any_check(settings, project):
    with pytest.raises(PlatformError, match="no environment 'qa'"):
        run_checks(settings, project, "qa", docker_root=None, min_free_bytes=0, nginx_test=passing_nginx)


def test_secret_values_never_appear_in_any_detail(settings, project, registry, synced):
    write_env(settings, SHARED_ENV, f"DATABASE_URL=postgresql://u:{MARKER}@db/demo\nSECRET_KEY=\n"
                                    f"not a binding {MARKER}\nPASSWORD={MARKER}\n", mode=0o644)
    write_env(settings, WORKER_ENV, f"WORKER_TOKEN={MARKER}\n")
    (settings.root / "config" / "projects.yml").write_text(f"# {MARKER}\n")  # dirty, tracked
    result = run_checks(settings, project, "production", docker_root=settings.root, min_free_bytes=10**18,
                        nginx_test=failing_nginx, registry=registry)
    assert not any(check.ok for check in result)
    for check in result:
        assert MARKER not in check.detail
        assert MARKER not in repr(check)


# --- disk space ------------------------------------------------------------------------------

def test_disk_space_fails_below_the_threshold(settings, project):
    disk = checks(settings, project, docker_root=settings.root, min_free_bytes=10**18)["disk space"]
    assert not disk.ok
    assert f"Docker data root {settings.root}" in disk.detail
    assert f"backups {settings.backups_dir}" in disk.detail
    assert "need 1000000000.0 GB" in disk.detail
    assert disk.detail.endswith("free up space or prune backups: invoke backup.prune")


def test_disk_space_passes_and_measures_a_missing_backups_dir_at_its_parent(settings, project):
    assert not settings.backups_dir.exists()
    disk = checks(settings, project, min_free_bytes=1)["disk space"]
    assert disk.ok
    assert "GB free for backups" in disk.detail
    assert "Docker" not in disk.detail
    assert not settings.backups_dir.exists()


def test_disk_space_reports_a_docker_root_that_is_not_on_this_host(settings, project, tmp_path):
    disk = checks(settings, project, docker_root=tmp_path / "no-docker")["disk space"]
    assert disk.ok
    assert "not on this host, not checked" in disk.detail


def test_disk_space_threshold_is_shown_in_gb_with_one_decimal(settings, project):
    disk = checks(settings, project, min_free_bytes=5 * 10**9)["disk space"]
    assert disk.detail.endswith("(need 5.0 GB)")


# --- platform repo sync ----------------------------------------------------------------------

def sync_check(settings, project, registry):
    return checks(settings, project, registry)["platform repo sync"]


def test_sync_passes_when_head_matches_upstream(settings, project, registry, synced):
    check = sync_check(settings, project, registry)
    assert check.ok and not check.skipped
    assert "HEAD matches origin/main" in check.detail


def test_sync_fails_when_behind(settings, project, registry, synced, tmp_path):
    other = tmp_path / "other"
    subprocess.run(["git", "clone", "--quiet", str(synced), str(other)], check=True, env={**os.environ})
    (other / "config" / "projects.yml").write_text("projects: {}\n")
    commit_all(other, "remote change")
    git(other, "push", "--quiet")
    check = sync_check(settings, project, registry)
    assert not check.ok
    assert "1 commit(s) behind origin/main: run git fetch && git reset --hard origin/main" in check.detail


def test_sync_fails_when_ahead(settings, project, registry, synced):
    (settings.root / "README.md").write_text("local\n")
    commit_all(settings.root, "local only")
    check = sync_check(settings, project, registry)
    assert not check.ok
    assert "1 local commit(s) not on origin/main" in check.detail
    assert "behind" not in check.detail


@pytest.mark.parametrize("stage", [False, True])
def test_sync_fails_on_uncommitted_changes_under_config(settings, project, registry, synced, stage):
    (settings.root / "config" / "projects.yml").write_text("projects: {}\n")
    if stage:
        git(settings.root, "add", "config/projects.yml")
    check = sync_check(settings, project, registry)
    assert not check.ok
    assert "uncommitted changes in config/projects.yml" in check.detail


def test_sync_lets_maintenance_mode_change_its_files(settings, project, registry, synced):
    settings.maintenance_file.write_text(maintenance.dump({(project.name, "production"): maintenance.Maintenance(
        "Back soon.", "2026-12-02T05:00:00Z", 300)}))
    git(settings.root, "add", "config/maintenance.yml")    # staged or not, git diff HEAD lists it
    files.apply(settings, files.plan(settings, registry))
    assert sync_check(settings, project, registry).ok
    assert checks(settings, project, registry)["nginx config"].ok
    settings.projects_file.write_bytes(PROJECTS_YML + b"\n")
    assert "uncommitted changes in config/projects.yml:" in sync_check(settings, project, registry).detail


def test_sync_names_at_most_three_changed_files(settings, project, registry, synced):
    for name in "abcde":
        (settings.root / "platform" / f"{name}.txt").write_text("1\n")
    commit_all(settings.root, "files")
    git(settings.root, "push", "--quiet")
    for name in "abcde":
        (settings.root / "platform" / f"{name}.txt").write_text("2\n")
    check = sync_check(settings, project, registry)
    assert "platform/a.txt, platform/b.txt, platform/c.txt and 2 more" in check.detail


def test_sync_ignores_untracked_env_files_and_changes_elsewhere(settings, project, registry, synced):
    write_good_env(settings)
    (settings.root / "config" / "notes.txt").write_text("untracked\n")
    (settings.root / ".gitignore").write_text("changed outside config/ and platform/\n")
    assert sync_check(settings, project, registry).ok


def test_sync_is_skipped_without_a_remote(settings, project, registry):
    git(settings.root, "init", "--quiet", "-b", "main")
    write_platform(settings, registry)
    commit_all(settings.root)
    check = sync_check(settings, project, registry)
    assert check.skipped
    assert check.detail == "no remote configured; skipping sync check"


def test_sync_is_skipped_when_the_branch_has_no_upstream(settings, project, registry, synced):
    git(settings.root, "checkout", "--quiet", "-b", "feature")
    check = sync_check(settings, project, registry)
    assert check.skipped
    assert "branch feature has no upstream" in check.detail


def test_sync_is_skipped_outside_a_git_repo(settings, project, registry):
    check = sync_check(settings, project, registry)
    assert check.skipped
    assert "not a git repository" in check.detail


def test_sync_fails_with_gits_reason_when_fetch_fails(settings, project, registry, synced, tmp_path):
    git(settings.root, "remote", "set-url", "origin", str(tmp_path / "gone.git"))
    check = sync_check(settings, project, registry)
    assert not check.ok and not check.skipped
    assert check.detail.startswith("git fetch failed: ")
    assert "gone.git" in check.detail
    assert "\n" not in check.detail


def test_sync_ignores_git_variables_of_the_calling_process(settings, project, registry, synced, monkeypatch,
                                                            tmp_path):
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("GIT_INDEX_FILE", str(tmp_path / "elsewhere" / "index"))
    assert sync_check(settings, project, registry).ok


def test_git_failures_become_results_not_exceptions(settings, monkeypatch):
    monkeypatch.setenv("PATH", str(settings.root))  # no git on PATH
    check = preflight.check_repo_sync(settings.root)
    assert isinstance(check, Check)
    assert not check.ok
    assert "cannot run git" in check.detail


def test_git_reason_hides_credentials_in_urls():
    result = gitrepo.GitResult(128, b"", f"fatal: unable to access 'https://bot:{MARKER}@git.example.com/p/'\n")
    assert result.reason == "unable to access 'https://***@git.example.com/p/'"


# --- nginx config ----------------------------------------------------------------------------

def test_nginx_passes_when_nginx_accepts_and_the_file_is_current(settings, project, registry):
    write_platform(settings, registry)
    check = checks(settings, project, registry)["nginx config"]
    assert check.ok
    assert "platform/nginx/conf.d/demo.example.com.conf is up to date" in check.detail


def test_nginx_fails_with_nginxs_reason(settings, project, registry):
    write_platform(settings, registry)
    check = checks(settings, project, registry, nginx_test=failing_nginx)["nginx config"]
    assert not check.ok
    assert check.detail == 'nginx rejected the configuration: unknown directive "bogus" in /etc/nginx/conf.d/x.conf:3'


@pytest.mark.parametrize("with_registry", [True, False])
def test_nginx_fails_when_the_generated_file_is_out_of_date(settings, project, registry, with_registry):
    write_platform(settings, registry)
    (settings.conf_dir / "demo.example.com.conf").write_text(f"# {GENERATED_MARKER}\n# edited by hand\n")
    check = checks(settings, project, registry if with_registry else None)["nginx config"]
    assert not check.ok
    assert check.detail == ("generated config out of date: run python3 lib/generate-nginx-configs.py and commit "
                            "platform/nginx/conf.d/demo.example.com.conf")


def test_nginx_reports_both_problems(settings, project, registry):
    check = checks(settings, project, registry, nginx_test=failing_nginx)["nginx config"]
    assert "unknown directive" in check.detail and "out of date" in check.detail


# --- engine ----------------------------------------------------------------------------------

SWARM_KEYS_YML = PROJECTS_YML.replace(b"port: 80}", b"port: 80, replicas: 3}").replace(
    b"port: 9000,", b"port: 9000, placement: node.role == worker,")
ONE_HOST = "replicas and placement apply on a swarm (PLATFORM_ENGINE=swarm); this host runs one container"


def test_replicas_and_placement_on_one_host_warn_once_per_container_and_pass(settings):
    project = parse_registry(SWARM_KEYS_YML).project("demo")
    engine = checks(settings, project)["engine"]
    assert engine == Check("engine", True, f"warning: demo-frontend: {ONE_HOST}; warning: demo-worker: {ONE_HOST}")
    assert list(checks(settings, project))[-1] == "engine"


def test_no_engine_warning_on_a_swarm_or_without_replicas_and_placement(settings, project):
    on_swarm = replace(settings, engine="swarm")
    assert preflight.swarm_key_warnings(on_swarm, parse_registry(SWARM_KEYS_YML).project("demo")) == []
    assert preflight.swarm_key_warnings(settings, project) == []
    assert list(checks(settings, project)) == ["disk space", "platform repo sync", "nginx config",
                                               "environment variables"]


# --- environment variables -------------------------------------------------------------------

def env_check(settings, project):
    return checks(settings, project)["environment variables"]


def test_env_passes_with_every_required_variable(settings, project):
    write_good_env(settings)
    check = env_check(settings, project)
    assert check.ok
    assert check.detail == f"{SHARED_ENV}, {WORKER_ENV}: 2 required variable(s) set"


def test_env_fails_for_a_missing_file_and_lists_what_it_needs(settings, project):
    write_env(settings, WORKER_ENV, "QUEUE=default\n")
    check = env_check(settings, project)
    assert not check.ok
    assert check.detail.startswith(f"{SHARED_ENV}: missing; create it with DATABASE_URL, SECRET_KEY")


def test_env_fails_naming_a_missing_variable(settings, project):
    write_env(settings, SHARED_ENV, f"DATABASE_URL={MARKER}\n")
    write_env(settings, WORKER_ENV, "QUEUE=default\n")
    check = env_check(settings, project)
    assert not check.ok
    assert check.detail == f"missing SECRET_KEY in {SHARED_ENV}, {WORKER_ENV}"


@pytest.mark.parametrize("line", ["SECRET_KEY=", "SECRET_KEY=''", "SECRET_KEY"])
def test_env_fails_naming_an_empty_variable(settings, project, line):
    write_env(settings, SHARED_ENV, f"DATABASE_URL={MARKER}\n{line}\n")
    write_env(settings, WORKER_ENV, "")
    check = env_check(settings, project)
    assert not check.ok
    assert check.detail == f"empty SECRET_KEY in {SHARED_ENV}, {WORKER_ENV}"


def test_env_takes_the_union_of_the_projects_files(settings, project):
    write_env(settings, SHARED_ENV, f"DATABASE_URL={MARKER}\n")
    write_env(settings, WORKER_ENV, f"SECRET_KEY={MARKER}\n")
    assert env_check(settings, project).ok


def test_env_fails_on_unparseable_lines(settings, project):
    write_good_env(settings)
    write_env(settings, WORKER_ENV, f"QUEUE=default\n\nthis is {MARKER}\n")
    check = env_check(settings, project)
    assert not check.ok
    assert check.detail == f"{WORKER_ENV}: cannot parse line(s) 3; write NAME=value"


def test_env_fails_on_a_file_that_is_not_utf8(settings, project):
    write_good_env(settings)
    (settings.root / WORKER_ENV).write_bytes(b"QUEUE=\xff\xfe\n")
    check = env_check(settings, project)
    assert f"{WORKER_ENV}: cannot read: not UTF-8 text" in check.detail


def test_env_warns_about_a_file_readable_by_others(settings, project):
    write_good_env(settings)
    (settings.root / SHARED_ENV).chmod(0o644)
    check = env_check(settings, project)
    assert check.ok
    assert check.detail.endswith(f"warning: {SHARED_ENV} is readable by other users (chmod 600 it)")
    assert WORKER_ENV + " is readable" not in check.detail


def test_env_reads_a_shared_file_once(settings, project, monkeypatch):
    write_good_env(settings)
    reads = []
    original = envfiles.read_text
    monkeypatch.setattr(envfiles, "read_text", lambda path: reads.append(path) or original(path))
    assert env_check(settings, project).ok
    assert sorted(reads) == sorted([settings.root / SHARED_ENV, settings.root / WORKER_ENV])


# --- read_env --------------------------------------------------------------------------------

def test_read_env_returns_the_containers_variables(settings, project):
    write_env(settings, SHARED_ENV, f"DATABASE_URL=postgresql://db/demo\nSECRET_KEY='{MARKER}'\nEMPTY=\nBARE\n")
    assert read_env(settings, project, "production", project.container("backend")) == {
        "DATABASE_URL": "postgresql://db/demo", "SECRET_KEY": MARKER, "EMPTY": ""}


def test_read_env_uses_the_containers_own_file(settings, project):
    write_good_env(settings)
    assert read_env(settings, project, "production", project.container("worker")) == {"QUEUE": "default"}


def test_read_env_of_a_missing_file_is_empty(settings, project):
    assert read_env(settings, project, "staging", project.container("backend")) == {}


def test_read_env_raises_a_platform_error_without_values_when_unreadable(settings, project):
    path = write_env(settings, SHARED_ENV, f"SECRET_KEY={MARKER}\n")
    path.unlink()
    path.mkdir()  # a directory where the file should be
    with pytest.raises(PlatformError, match=f"^{SHARED_ENV}: cannot read: ") as raised:
        read_env(settings, project, "production", project.container("backend"))
    assert MARKER not in str(raised.value)
