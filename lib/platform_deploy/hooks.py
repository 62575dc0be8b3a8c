"""The git pre-commit hook: check what is staged (the index), never the working tree.

It blocks a commit that stages
- a generated nginx config that differs from what config/projects.yml and config/maintenance.yml (as staged)
  generate,
- an invalid config/projects.yml or config/maintenance.yml,
- an env file (see ``is_env_file``; ``*.example`` allowed), or a file the staged config/projects.yml names
  as a project's ``env_file`` (read when the commit touches config/), or a file holding a private key (PEM and OpenSSH
  ``-----BEGIN ... PRIVATE KEY-----``, PuTTY ``.ppk``, an AWS secret access key) or named like a key store
  (``.p12``, ``.pfx``, ``.jks``, ``.keystore``, ``.ppk``: binary, recognised by name).

.gitignore ignores the same env files (tests/unit/test_hooks.py checks that they agree).

The nginx check runs only when the commit touches config/projects.yml, config/maintenance.yml (which
projects answer with a maintenance page) or platform/nginx/conf.d/.
Certificates decide between HTTP and HTTPS servers, so it reads ``$PLATFORM_CERTS_DIR`` (default
/etc/letsencrypt) exactly as the developer's ``invoke nginx.generate`` did.
bin/git-hooks/pre-commit runs ``main()``; ``git commit --no-verify`` skips it.
"""

import os
import posixpath
import re
import sys
import tempfile
from dataclasses import replace
from pathlib import Path, PurePosixPath

from . import gitrepo

PROJECTS_FILE = "config/projects.yml"
MAINTENANCE_FILE = "config/maintenance.yml"   # generated configs depend on it too (config/maintenance.py)
CONF_DIR = "platform/nginx/conf.d/"
REGULAR_FILE_MODES = ("100644", "100755")
PRIVATE_KEY = re.compile(rb"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"   # PEM, OpenSSH, PGP
                         rb"|^PuTTY-User-Key-File-[0-9]+: "                             # PuTTY .ppk
                         rb"|(?i:aws_secret_access_key)[ \t]*[=:][ \t]*[\"']?[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])",
                         re.MULTILINE)
KEY_STORES = (".p12", ".pfx", ".jks", ".keystore", ".ppk")
# env.py (Alembic's), env.md, ...: code and docs, not env files; .gitignore re-includes the same suffixes.
# Names starting with ".env" are env files whatever their suffix (.env.yml, .env.production.txt, .env~).
CODE_SUFFIXES = (".md", ".rst", ".txt", ".py", ".sh", ".js", ".ts", ".yml", ".yaml", ".json", ".toml")
FIX_NGINX = "python3 lib/generate-nginx-configs.py && git add platform/nginx/conf.d"
BYPASS = "To bypass (emergencies only): git commit --no-verify"
GIT_TIMEOUT = 120   # reading a large index and its blobs


# --- decisions: pure functions over paths and bytes ------------------------------------------

def touches_nginx(paths) -> bool:
    return any(path in (PROJECTS_FILE, MAINTENANCE_FILE) or path.startswith(CONF_DIR) for path in paths)


def is_env_file(path: str) -> bool:
    """Anywhere, in any case, as .gitignore has them: a name starting with ``.env`` (``.env``, ``.envrc``,
    ``.env.*`` with any suffix, ``.env~``); ``env.*``, ``*.env`` and ``*.env.*`` unless code or docs
    (``env.py``, ``env.md``); never a template ending in ``.example``."""
    name = PurePosixPath(path).name
    lower = name.lower()
    if lower.endswith(".example"):
        return False
    if lower.startswith(".env"):
        return True
    return not name.endswith(CODE_SUFFIXES) and (lower.startswith("env.") or lower.endswith(".env")
                                                  or ".env." in lower)


def declared_env_files(registry) -> set[str]:
    """Every file the registry's entries name as an env file, for every environment (normalised paths)."""
    from .config import ENVIRONMENTS

    return {posixpath.normpath(container.env_file_path(project.name, environment))
            for project in registry.projects for container in project.containers for environment in ENVIRONMENTS}


def is_key_store(path: str) -> bool:
    return path.lower().endswith(KEY_STORES)


def has_private_key(data: bytes) -> bool:
    return PRIVATE_KEY.search(data) is not None


def secret_problems(staged: dict, env_files=frozenset()) -> list[str]:
    """``staged`` maps path -> staged bytes (None when not a regular file); ``env_files``: the paths the
    registry names as env files (see declared_env_files). Names only, never content."""
    problems = []
    for path, data in sorted(staged.items()):
        if is_env_file(path) or path in env_files:
            problems.append(f"   {path}: env file; keep secrets out of git (commit a .env.example instead)")
        elif is_key_store(path):
            problems.append(f"   {path}: a key store; keep keys out of git")
        elif data is not None and has_private_key(data):
            problems.append(f"   {path}: contains a private key")
    return problems


def report(nginx_differs=(), config_problems=(), secrets=(), hand_written=()) -> list[str]:
    """The message of a blocked commit; empty when the commit may go ahead."""
    lines = []
    if config_problems:
        maintenance = all(line.startswith(MAINTENANCE_FILE) for line in config_problems)
        lines += [f"BLOCKED: {MAINTENANCE_FILE if maintenance else PROJECTS_FILE} is invalid", *config_problems]
    if hand_written:
        lines += ["BLOCKED: hand-written nginx configs take projects' places", *(f"   {line}" for line in hand_written)]
    if nginx_differs:
        lines += ["BLOCKED: Nginx config files were modified directly",
                  "   Edit config/projects.yml instead",
                  *(f"   {line}" for line in nginx_differs),
                  f"   Regenerate and stage them: {FIX_NGINX}"]
    if secrets:
        lines += ["BLOCKED: secrets are staged", *secrets,
                  "   Unstage them: git rm --cached <file>"]
    return lines + [BYPASS] if lines else []


# --- facts: what the index holds --------------------------------------------------------------

def git(*args, stdin: bytes | None = None) -> bytes:
    # The hook runs inside `git commit`: it reads the repository and index that git names in GIT_*.
    result = gitrepo.run(*args, stdin=stdin, timeout=GIT_TIMEOUT, own_repository=False)
    if result.code != 0:
        message = result.err.strip().splitlines()
        raise RuntimeError(f"git {args[0]} failed: {message[-1] if message else result.code}")
    return result.output


def staged_changes() -> list[tuple[str, str, str]]:
    """(path, new mode, new blob id) of every path the commit changes; deletions have mode 000000."""
    try:
        git("rev-parse", "--verify", "--quiet", "HEAD")
        against = "HEAD"
    except RuntimeError:  # first commit: compare with the empty tree
        against = git("hash-object", "-t", "tree", "/dev/null").decode().strip()
    fields = git("diff-index", "--cached", "--no-renames", "-z", against).split(b"\0")
    changes = []
    for meta, path in zip(fields[0::2], fields[1::2]):
        _, new_mode, _, new_blob, _ = meta.decode().lstrip(":").split(" ")
        changes.append((os.fsdecode(path), new_mode, new_blob))
    return changes


def read_blobs(blobs) -> dict:
    """Blob id -> bytes, read in one ``git cat-file --batch``."""
    blobs = list(dict.fromkeys(blobs))
    if not blobs:
        return {}
    out = git("cat-file", "--batch", stdin="".join(f"{blob}\n" for blob in blobs).encode())
    contents, at = {}, 0
    for blob in blobs:
        header_end = out.index(b"\n", at)
        size = int(out[at:header_end].split()[2])
        contents[blob] = out[header_end + 1: header_end + 1 + size]
        at = header_end + 1 + size + 1
    return contents


def staged_files(changes) -> dict:
    """Path -> staged bytes of added or modified paths (None for symlinks and submodules)."""
    kept = [(path, mode, blob) for path, mode, blob in changes if mode != "000000"]
    contents = read_blobs(blob for _, mode, blob in kept if mode in REGULAR_FILE_MODES)
    return {path: contents.get(blob) if mode in REGULAR_FILE_MODES else None for path, mode, blob in kept}


def staged_env_files(paths) -> set[str]:
    """The env files the staged config/projects.yml names; read only when the commit touches config/.
    Empty without a valid one (the nginx check reports an invalid one when it is staged)."""
    from .config.load import parse_registry
    from .errors import PlatformError

    if not any(path.startswith("config/") for path in paths):
        return set()
    listed = git("ls-files", "-z", "-s", "--", PROJECTS_FILE).split(b"\0")[0].split()
    if len(listed) < 2 or listed[0].decode() not in REGULAR_FILE_MODES:
        return set()
    blob = listed[1].decode()
    try:
        return declared_env_files(parse_registry(read_blobs([blob])[blob], PROJECTS_FILE))
    except PlatformError:
        return set()


def check_nginx() -> tuple[list[str], list[str], list[str]]:
    """Export the staged projects.yml, maintenance.yml and conf.d, plan generation there: (differing files, config
    problems, hand-written files in a generated file's place or serving a project's domain)."""
    from .config import load_registry
    from .errors import ConfigError, PlatformError
    from .nginx import files
    from .settings import Settings

    paths = git("ls-files", "-z", "--", PROJECTS_FILE, MAINTENANCE_FILE, CONF_DIR)
    with tempfile.TemporaryDirectory(prefix="platform-pre-commit-") as temp:
        if paths:
            git("checkout-index", "-z", "--stdin", f"--prefix={temp}/", stdin=paths)
        settings = replace(Settings.load(environ=os.environ), root=Path(temp))
        try:
            registry = load_registry(settings.projects_file, shown_as=PROJECTS_FILE)
            planned = files.plan(settings, registry)
        except ConfigError as error:
            return [], error.problems, []
        except PlatformError as error:   # a hand-written file where a generated one goes
            return [], [], [str(error)]
    return [f"{CONF_DIR}{name}: {'stale, would be removed' if name in planned.remove else 'differs from projects.yml'}"
            for name in planned.differs], [], list(planned.taken)


def main() -> int:
    try:
        changes = staged_changes()
        paths = [path for path, _, _ in changes]
        secrets = secret_problems(staged_files(changes), staged_env_files(paths))
        differs, problems, hand_written = check_nginx() if touches_nginx(paths) else ([], [], [])
    except (RuntimeError, OSError) as error:
        print(f"pre-commit: {error}", file=sys.stderr)
        return 1
    lines = report(differs, problems, secrets, hand_written)
    if lines:
        print("\n".join(lines), file=sys.stderr)
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main())
