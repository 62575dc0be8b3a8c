"""Hand-written conf.d files that would take a project's traffic.

nginx gives a name to the first server block that claims it, and reads conf.d in
name order: a hand-written 00-x.conf claiming a project's domain wins over the
generated file. Its server_name directives are read as nginx reads them (quotes,
`.example.com` meaning the name and its subdomains), and so are the files it
includes from the platform's nginx directory.
"""

import re
from pathlib import Path

SERVER_NAME = re.compile(r"\bserver_name\s+([^;]*);")
INCLUDE = re.compile(r"\binclude\s+([^;\s]+)\s*;")
COMMENT = re.compile(r"#[^\n]*")
NGINX_PREFIX = "/etc/nginx/"    # where platform/nginx is mounted in platform-nginx
MAX_INCLUDE_DEPTH = 8


def owner_of(name: str, registry):
    """The project that serves ``name`` (a domain or a wildcard): the same name, a wildcard of its covering
    it, or, for a wildcard, one of its names under it (nginx's `*.X` matches X's subdomains at any depth)."""
    def covers(wildcard: str, other: str) -> bool:
        base = wildcard[2:]
        return wildcard.startswith("*.") and (other.removeprefix("*.") == base or other.endswith("." + base))

    for project in registry.projects:
        for environment in project.environments:
            for domain in project.domains_for(environment):
                if name == domain or covers(domain, name) or covers(name, domain):
                    return project
    return None


def server_names(text: str) -> list[str]:
    """Every name of every server_name directive, unquoted and lowercased; `.x` stands for `x` and `*.x`."""
    names = []
    for directive in SERVER_NAME.findall(COMMENT.sub("", text)):
        for token in directive.split():
            name = token.strip("\"'").lower().rstrip(".")
            names += [name[1:], "*" + name] if name.startswith(".") else [name]
    return names


def included(text: str, nginx_dir: Path) -> list[Path]:
    """The files an include directive names, found in platform/nginx (absolute /etc/nginx/... paths and paths
    relative to /etc/nginx, as nginx resolves them); includes of files outside it are not the repo's."""
    found = []
    for target in INCLUDE.findall(COMMENT.sub("", text)):
        target = target.strip("\"'")
        if target.startswith("/"):
            if not target.startswith(NGINX_PREFIX):
                continue
            target = target[len(NGINX_PREFIX):]
        found += sorted(path for path in nginx_dir.glob(target) if path.is_file())
    return found


def _names_in(path: Path, nginx_dir: Path, depth: int = 0) -> list[str]:
    text = path.read_text(encoding="utf-8", errors="replace")
    names = server_names(text)
    if depth < MAX_INCLUDE_DEPTH:
        for child in included(text, nginx_dir):
            names += _names_in(child, nginx_dir, depth + 1)
    return names


def taken_names(settings, registry, is_generated) -> tuple[str, ...]:
    """One line per name a hand-written conf.d file (or a file it includes) claims from a project."""
    conf_dir = Path(settings.conf_dir)
    found = []
    for path in sorted(conf_dir.glob("*.conf")) if conf_dir.is_dir() else ():
        if is_generated(path):
            continue
        for name in dict.fromkeys(_names_in(path, conf_dir.parent)):
            project = owner_of(name, registry)
            if project is not None:
                found.append(f"{settings.relative(path)}: server_name {name} belongs to projects/{project.name}; "
                             f"remove it there (the generated {project.config_filename} serves it)")
    return tuple(found)
