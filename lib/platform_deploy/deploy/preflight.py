"""Pre-flight checks, run before a deploy changes anything: disk, repo sync, nginx, env files.

Each check returns a Check instead of raising, so the pipeline can show them all
and honour ``--force``. A Check's detail names files and variables, never a value
read from an env file.
"""

import io
import os
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from dotenv import dotenv_values
from dotenv.parser import parse_stream

from ..config.model import Registry
from ..errors import PlatformError
from ..nginx import files
from ..redact import url_credentials

DISK, SYNC, NGINX, ENV = "disk space", "platform repo sync", "nginx config", "environment variables"
GB = 10**9  # decimal, like Settings.min_free_gb and df -H
GIT_TIMEOUT = 10
FETCH_TIMEOUT = 30
SYNCED_DIRS = ("config", "platform")
MAX_NAMED = 3
REGENERATE = "python3 lib/generate-nginx-configs.py"
PRUNE_HINT = "free up space or prune backups: invoke backup.prune"
# Keep the user's ssh setup (deploy keys); drop GIT_DIR, GIT_INDEX_FILE & co. that a hook may have set.
KEPT_GIT_VARS = ("GIT_SSH", "GIT_SSH_COMMAND", "GIT_SSH_VARIANT")


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
    """
    project.check_environment(environment)
    return [
        check_disk(settings, docker_root, min_free_bytes),
        check_repo_sync(settings.root),
        check_nginx(settings, project, nginx_test, registry),
        check_env(settings, project, environment),
    ]


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

@dataclass(frozen=True)
class _GitResult:
    code: int
    out: str
    err: str

    @property
    def reason(self) -> str:
        """git's first message line, without its 'fatal: ' prefix and any credentials in URLs."""
        lines = [line.strip() for line in (self.err or self.out).splitlines() if line.strip()]
        first = lines[0] if lines else f"exit status {self.code}"
        first = re.sub(r"^(fatal|error): ", "", first)
        return url_credentials(first)[:200]


def check_repo_sync(root: Path) -> Check:
    inside = _git(root, "rev-parse", "--is-inside-work-tree")
    if inside.code != 0:
        if "not a git repository" in inside.err:
            return Check(SYNC, True, f"{root} is not a git repository; skipping sync check", skipped=True)
        return Check(SYNC, False, f"git cannot read {root}: {inside.reason}")
    upstream = _git(root, "rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{u}")
    if upstream.code != 0:
        return Check(SYNC, True, _no_upstream_reason(root), skipped=True)
    upstream_name = upstream.out.strip()
    problems = []
    fetched = _git(root, "fetch", "--quiet", timeout=FETCH_TIMEOUT)
    if fetched.code != 0:
        problems.append(f"git fetch failed: {fetched.reason}")
    else:
        problems.extend(_position_problems(root, upstream_name))
    problems.extend(_uncommitted_problems(root))
    if problems:
        return Check(SYNC, False, "; ".join(problems))
    dirs = " or ".join(f"{name}/" for name in SYNCED_DIRS)
    return Check(SYNC, True, f"HEAD matches {upstream_name}; no uncommitted changes under {dirs}")


def _no_upstream_reason(root: Path) -> str:
    if not _git(root, "remote").out.strip():
        return "no remote configured; skipping sync check"
    branch = _git(root, "symbolic-ref", "--quiet", "--short", "HEAD").out.strip()
    if not branch:
        return "HEAD is detached (no upstream branch); skipping sync check"
    return (f"branch {branch} has no upstream; skipping sync check "
            f"(set one: git branch --set-upstream-to origin/{branch})")


def _position_problems(root: Path, upstream: str) -> list[str]:
    counted = _git(root, "rev-list", "--left-right", "--count", "HEAD...@{u}")
    if counted.code != 0:
        return [f"cannot compare HEAD with {upstream}: {counted.reason}"]
    ahead, behind = (int(number) for number in counted.out.split())
    problems = []
    if behind:
        problems.append(f"{behind} commit(s) behind {upstream}: run git fetch && git reset --hard {upstream}")
    if ahead:
        problems.append(f"{ahead} local commit(s) not on {upstream}: push them (git push) or drop them")
    return problems


def _uncommitted_problems(root: Path) -> list[str]:
    """Tracked files under config/ or platform/ whose working copy differs from HEAD (staged or not)."""
    diff = _git(root, "diff", "--name-only", "-z", "--relative", "HEAD", "--", *SYNCED_DIRS)
    if diff.code != 0:
        return [f"cannot list uncommitted changes: {diff.reason}"]
    changed = [name for name in diff.out.split("\0") if name]
    if not changed:
        return []
    named = ", ".join(changed[:MAX_NAMED])
    more = f" and {len(changed) - MAX_NAMED} more" if len(changed) > MAX_NAMED else ""
    return [f"uncommitted changes in {named}{more}: commit them or discard them (git checkout -- <file>)"]


def _git(root: Path, *args: str, timeout: int = GIT_TIMEOUT) -> _GitResult:
    """Run ``git -C root args``; errors (git missing, timeout) come back as a result, never raised."""
    try:
        # A new session has no controlling terminal, so ssh cannot prompt, and a timeout can
        # kill ssh along with git (subprocess.run would wait for ssh to close the pipes).
        process = subprocess.Popen(["git", "-C", str(root), *args], stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_git_env(),
                                   start_new_session=True)
    except OSError as error:
        return _GitResult(127, "", f"cannot run git: {error.strerror or error}")
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        return _GitResult(-1, "", f"git {args[0]} timed out after {timeout} s")
    return _GitResult(process.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))


def _git_env() -> dict:
    env = {name: value for name, value in os.environ.items()
           if not name.startswith("GIT_") or name in KEPT_GIT_VARS}
    env.update(GIT_TERMINAL_PROMPT="0", LC_ALL="C")
    return env


# --- nginx config -------------------------------------------------------------------------

def check_nginx(settings, project, nginx_test, registry: Registry | None) -> Check:
    problems = []
    try:
        nginx_test()
    except PlatformError as error:
        problems.append(_one_line(str(error)))
    try:
        planned = files.plan(settings, registry or Registry(projects=(project,)), only=project.name)
    except PlatformError as error:
        problems.append(f"cannot render the nginx config: {_one_line(str(error))}")
    else:
        if planned.write:
            stale = ", ".join(settings.relative(settings.conf_dir / name) for name in planned.write)
            problems.append(f"generated config out of date: run {REGENERATE} and commit {stale}")
    if problems:
        return Check(NGINX, False, "; ".join(problems))
    generated = settings.relative(settings.conf_dir / project.config_filename)
    return Check(NGINX, True, f"nginx accepts the configuration; {generated} is up to date")


def _one_line(text: str) -> str:
    return " ".join(text.split())


# --- environment variables ----------------------------------------------------------------

def check_env(settings, project, environment) -> Check:
    required = project.required_env
    problems, warnings, defined, non_empty, read = [], [], set(), set(), []
    for relative in _env_files(project, environment):
        path = Path(settings.root) / relative
        if not path.is_file():
            wanted = f"with {', '.join(required)}" if required else "(it may be empty)"
            problems.append(f"{relative}: missing; create it {wanted}")
            continue
        try:
            mode = path.stat().st_mode
            text = _read_env_text(path)
        except (OSError, UnicodeDecodeError) as error:
            problems.append(f"{relative}: cannot read: {_read_error(error)}")
            continue
        read.append(relative)
        bad_lines = _unparseable_lines(text)
        if bad_lines:
            problems.append(f"{relative}: cannot parse line(s) {', '.join(map(str, bad_lines))}; "
                            "write NAME=value")
        values = _parse_env(text)
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


def _unparseable_lines(text: str) -> list[int]:
    """Line numbers python-dotenv cannot parse (it silently skips them otherwise)."""
    lines = []
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            statement = binding.original.string
            # A statement starts with the blank lines before it; point at its first text.
            leading = statement[: len(statement) - len(statement.lstrip())]
            lines.append(binding.original.line + leading.count("\n"))
    return lines


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


def read_env(settings, project, environment, container) -> dict[str, str]:
    """The variables ``container`` gets from its env file ({} when the file does not exist).

    The values are secrets: pass them to Docker, never print or log them. A bare
    ``NAME`` line (no ``=``) sets nothing.
    """
    project.check_environment(environment)
    relative = container.env_file_path(project.name, environment)
    try:
        text = _read_env_text(Path(settings.root) / relative)
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as error:
        raise PlatformError(f"{relative}: cannot read: {_read_error(error)}") from None
    return {name: value for name, value in _parse_env(text).items() if value is not None}


def _env_files(project, environment) -> list[str]:
    """Each distinct env file of the project's containers, in container order (often all the same one)."""
    return list(dict.fromkeys(c.env_file_path(project.name, environment) for c in project.containers))


def _read_env_text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _parse_env(text: str) -> dict:
    return dotenv_values(stream=io.StringIO(text))


def _read_error(error: Exception) -> str:
    # str(UnicodeDecodeError) quotes the offending byte; say only what is wrong.
    if isinstance(error, UnicodeDecodeError):
        return "not UTF-8 text"
    return error.strerror or type(error).__name__
