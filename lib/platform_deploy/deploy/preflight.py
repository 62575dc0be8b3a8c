"""Pre-flight checks, run before a deploy changes anything: disk, repo sync, nginx, env files, engine.

Each check returns a Check instead of raising, so the pipeline can show them all
and honour ``--force``. A Check's detail names files and variables, never a value
read from an env file.
"""

import shutil
from dataclasses import dataclass
from pathlib import Path

from .. import certfiles, envfiles, gitrepo
from ..config.model import Registry
from ..errors import PlatformError
from ..nginx import files
from ..nginx import maintenance as maintenance_mode
from ..textutil import one_line

DISK, SYNC, NGINX, ENV = "disk space", "platform repo sync", "nginx config", "environment variables"
ENGINE = "engine"
GB = 10**9  # decimal, like Settings.min_free_gb and df -H
FETCH_TIMEOUT = 30
SYNCED_DIRS = ("config", "platform")
MAX_NAMED = 3
REGENERATE = "python3 lib/generate-nginx-configs.py"
PRUNE_HINT = "free up space or prune backups: invoke backup.prune"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str  # one line; never contains a value from an env file
    skipped: bool = False


def run_checks(settings, project, environment, *, docker_root: Path | None, min_free_bytes: int,
               nginx_test, registry: Registry | None = None) -> list[Check]:
    """Run every pre-flight check for ``project``/``environment``; never raises for a failed check.

    ``nginx_test()`` raises PlatformError when nginx rejects its config. ``registry``
    defaults to one holding only ``project`` (a project's nginx file depends on it alone).
    The engine check is there only when it has a warning to give.
    """
    project.check_environment(environment)
    known = registry or Registry(projects=(project,))
    checks = [
        check_disk(settings, docker_root, min_free_bytes),
        check_repo_sync(settings.root,
                        maintenance_mode.changed_files(settings, known) | served_over_tls(settings, known)),
        check_nginx(settings, project, nginx_test, registry, environment),
        check_env(settings, project, environment),
    ]
    engine_warnings = swarm_key_warnings(settings, project)
    return checks + ([Check(ENGINE, True, "; ".join(engine_warnings))] if engine_warnings else [])


def served_over_tls(settings, registry: Registry) -> set[str]:
    """The generated configs (relative to root) of projects with a certificate on this server: certs.issue
    rewrote them with TLS, so they may differ from git (the nginx check still compares them with what
    projects.yml renders, which catches a hand edit)."""
    has_certificate = files.has_certificate_in(settings.certs_dir)
    return {settings.relative(settings.conf_dir / project.config_filename) for project in registry.projects
            if any(has_certificate(want.name) for want in certfiles.wanted(registry, project.name) if want.domains)}


# --- disk space ---------------------------------------------------------------------------

def check_disk(settings, docker_root: Path | None, min_free_bytes: int) -> Check:
    places, notes = [], []
    if docker_root is not None:
        if Path(docker_root).exists():
            places.append(("Docker data root", Path(docker_root)))
        else:
            notes.append(f"Docker data root {docker_root} is not on this host, not checked")
    places.append(("backups", Path(settings.backups_dir)))
    try:
        measured = _free_per_filesystem(places)
    except OSError as error:
        return Check(DISK, False, f"cannot measure free space: {error.strerror or error}")
    need = f"need {_gb(min_free_bytes)}"
    low = [f"only {_gb(free)} free for {where} ({need})" for where, free in measured if free < min_free_bytes]
    if low:
        return Check(DISK, False, "; ".join(low + notes + [PRUNE_HINT]))
    fine = [f"{_gb(free)} free for {where}" for where, free in measured]
    return Check(DISK, True, "; ".join([", ".join(fine) + f" ({need})"] + notes))


def _free_per_filesystem(places) -> list[tuple[str, int]]:
    """[(where, free bytes)], one entry per filesystem so a shared disk is reported once."""
    by_device = {}
    for label, path in places:
        existing = _nearest_existing(path)
        device = existing.stat().st_dev
        if device not in by_device:
            by_device[device] = ([], shutil.disk_usage(existing).free)
        by_device[device][0].append(f"{label} {path}")
    return [(" and ".join(names), free) for names, free in by_device.values()]


def _nearest_existing(path: Path) -> Path:
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _gb(size: int) -> str:
    return f"{size / GB:.1f} GB"


# --- platform repo sync -------------------------------------------------------------------

def check_repo_sync(root: Path, maintained=frozenset()) -> Check:
    """``maintained``: files maintenance mode changes (relative to root), which may differ from HEAD."""
    inside = gitrepo.run("rev-parse", "--is-inside-work-tree", cwd=root)
    if inside.code != 0:
        if "not a git repository" in inside.err:
            return Check(SYNC, True, f"{root} is not a git repository; skipping sync check", skipped=True)
        return Check(SYNC, False, f"git cannot read {root}: {inside.reason}")
    upstream = gitrepo.run("rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{u}", cwd=root)
    if upstream.code != 0:
        return Check(SYNC, True, _no_upstream_reason(root), skipped=True)
    upstream_name = upstream.out.strip()
    problems = []
    fetched = gitrepo.run("fetch", "--quiet", timeout=FETCH_TIMEOUT, cwd=root)
    if fetched.code != 0:
        problems.append(f"git fetch failed: {fetched.reason}")
    else:
        problems.extend(_position_problems(root, upstream_name))
    problems.extend(_uncommitted_problems(root, maintained))
    if problems:
        return Check(SYNC, False, "; ".join(problems))
    dirs = " or ".join(f"{name}/" for name in SYNCED_DIRS)
    return Check(SYNC, True, f"HEAD matches {upstream_name}; no uncommitted changes under {dirs}")


def _no_upstream_reason(root: Path) -> str:
    if not gitrepo.run("remote", cwd=root).out.strip():
        return "no remote configured; skipping sync check"
    branch = gitrepo.run("symbolic-ref", "--quiet", "--short", "HEAD", cwd=root).out.strip()
    if not branch:
        return "HEAD is detached (no upstream branch); skipping sync check"
    return (f"branch {branch} has no upstream; skipping sync check "
            f"(set one: git branch --set-upstream-to origin/{branch})")


def _position_problems(root: Path, upstream: str) -> list[str]:
    counted = gitrepo.run("rev-list", "--left-right", "--count", "HEAD...@{u}", cwd=root)
    if counted.code != 0:
        return [f"cannot compare HEAD with {upstream}: {counted.reason}"]
    ahead, behind = (int(number) for number in counted.out.split())
    problems = []
    if behind:
        problems.append(f"{behind} commit(s) behind {upstream}: run git fetch && git reset --hard {upstream}")
    if ahead:
        problems.append(f"{ahead} local commit(s) not on {upstream}: push them (git push) or drop them")
    return problems


def _uncommitted_problems(root: Path, maintained) -> list[str]:
    """Tracked files under config/ or platform/ whose working copy differs from HEAD (staged or not), but
    those of maintenance mode (the operator's, kept across deploys)."""
    diff = gitrepo.run("diff", "--name-only", "-z", "--relative", "HEAD", "--", *SYNCED_DIRS, cwd=root)
    if diff.code != 0:
        return [f"cannot list uncommitted changes: {diff.reason}"]
    changed = [name for name in diff.out.split("\0") if name and name not in maintained]
    if not changed:
        return []
    named = ", ".join(changed[:MAX_NAMED])
    more = f" and {len(changed) - MAX_NAMED} more" if len(changed) > MAX_NAMED else ""
    return [f"uncommitted changes in {named}{more}: commit them or discard them (git checkout -- <file>)"]


# --- nginx config -------------------------------------------------------------------------

def check_nginx(settings, project, nginx_test, registry: Registry | None, environment: str | None = None) -> Check:
    """``environment``: also warn (never fail) when its certificate expires within certfiles.WARN_DAYS."""
    warnings = certificate_warnings(settings, project, environment) if environment else []
    problems = []
    try:
        nginx_test()
    except PlatformError as error:
        problems.append(one_line(error))
    try:
        planned = files.plan(settings, registry or Registry(projects=(project,)), only=project.name)
    except PlatformError as error:
        problems.append(f"cannot render the nginx config: {one_line(error)}")
    else:
        if planned.write:
            stale = ", ".join(settings.relative(settings.conf_dir / name) for name in planned.write)
            problems.append(f"generated config out of date: run {REGENERATE} and commit {stale}")
    if problems:
        return Check(NGINX, False, "; ".join(problems + warnings))
    generated = settings.relative(settings.conf_dir / project.config_filename)
    return Check(NGINX, True, "; ".join([f"nginx accepts the configuration; {generated} is up to date"] + warnings))


def certificate_warnings(settings, project, environment: str, now=None) -> list[str]:
    """A deploy goes ahead with an expiring certificate: it says so, it does not fail for it."""
    now = now or certfiles.utc_now()
    wants = certfiles.wanted(Registry(projects=(project,)), project.name, environment)
    warnings = []
    for seen in certfiles.survey(settings.certs_dir, wants, now, settings.certs_renew_days):
        certificate = seen.certificate
        if certificate and certificate.seconds_left(now) < certfiles.WARN_DAYS * 86400:
            warnings.append(f"warning: certificate {seen.want.name} expires {certfiles.expiry(certificate)}: "
                            "run invoke certs.renew")
        elif seen.state is certfiles.State.UNREADABLE:
            warnings.append(f"warning: {seen.detail}")
    return warnings


# --- engine -------------------------------------------------------------------------------

def swarm_key_warnings(settings, project) -> list[str]:
    """One per container with replicas or a placement: only a swarm honours them, a single host runs the
    container once, wherever it is; the deploy goes ahead and says so."""
    if settings.on_swarm:
        return []
    return [f"warning: {container.name}: replicas and placement apply on a swarm (PLATFORM_ENGINE=swarm); "
            "this host runs one container"
            for container in project.containers if container.replicas > 1 or container.placement]


# --- environment variables ----------------------------------------------------------------

def check_env(settings, project, environment) -> Check:
    required = project.required_env
    problems, warnings, defined, non_empty, read = [], [], set(), set(), []
    for relative in envfiles.env_files(project, environment):
        try:
            path = envfiles.confined(settings, project.name, relative)
        except PlatformError as error:
            problems.append(str(error))
            continue
        if not path.is_file():
            wanted = f"with {', '.join(required)}" if required else "(it may be empty)"
            problems.append(f"{relative}: missing; create it {wanted}")
            continue
        try:
            mode = path.stat().st_mode
            text = envfiles.read_text(path)
        except (OSError, UnicodeDecodeError) as error:
            problems.append(f"{relative}: cannot read: {envfiles.read_error(error)}")
            continue
        read.append(relative)
        bad_lines = envfiles.unparseable_lines(text)
        if bad_lines:
            problems.append(f"{relative}: cannot parse line(s) {', '.join(map(str, bad_lines))}; "
                            "write NAME=value")
        values = envfiles.parse(text)
        defined.update(values)
        non_empty.update(name for name, value in values.items() if value)
        if mode & 0o077:
            warnings.append(f"warning: {relative} is readable by other users (chmod 600 it)")
    if read:
        problems.extend(_variable_problems(required, defined, non_empty, read))
    if problems:
        return Check(ENV, False, "; ".join(problems + warnings))
    summary = f"{', '.join(read)}: {len(required)} required variable(s) set"
    return Check(ENV, True, "; ".join([summary] + warnings))


def _variable_problems(required, defined, non_empty, read) -> list[str]:
    where = ", ".join(read)
    missing = [name for name in required if name not in defined]
    empty = [name for name in required if name in defined and name not in non_empty]
    problems = []
    if missing:
        problems.append(f"missing {', '.join(missing)} in {where}")
    if empty:
        problems.append(f"empty {', '.join(empty)} in {where}")
    return problems

