"""The tenant boundary: a project's entry names only its own roles, databases, volumes and env files, and no domain of
another project (docs/projects.reference.yml states the rules; issue 11 says why).

Checked once the whole registry is read: whose a name is depends on every project's name.
"""

import posixpath

from ..naming import PLATFORM_CONFIG_DIR
from .model import ENVIRONMENTS

# PostgreSQL's own names: a tenant's role is ALTERed with a password from the tenant's env file (step 4).
RESERVED_ROLES = {
    "postgres": "PostgreSQL's superuser",
    **{name: "a PostgreSQL keyword for roles" for name in ("public", "none", "current_user", "current_role",
                                                           "session_user")},
}
RESERVED_ROLE_PREFIX = ("pg_", "names starting with pg_ are PostgreSQL's own roles")
RESERVED_DATABASES = {name: "PostgreSQL's own database" for name in ("postgres", "template0", "template1")}


def sql_name(project: str) -> str:
    """The project's name as PostgreSQL names start: `my-shop` -> `my_shop`."""
    return project.replace("-", "_")


def reserved_reason(kind: str, value: str) -> str | None:
    """Why ``value`` may be no project's ``kind`` ('role' or 'database'), or None."""
    if kind == "role":
        prefix, reason = RESERVED_ROLE_PREFIX
        return RESERVED_ROLES.get(value) or (reason if value.startswith(prefix) else None)
    return RESERVED_DATABASES.get(value)


def _owner(value: str, owners: dict, separator: str = "_") -> str | None:
    """The project whose name in ``owners`` is the longest prefix of ``value`` (the name itself or
    `<it><separator>...`)."""
    labels = value.split(separator)
    for end in range(len(labels), 0, -1):
        owner = owners.get(separator.join(labels[:end]))
        if owner is not None:
            return owner
    return None


def _sql_names(problems, project, owners):
    own = sql_name(project.name)
    if not own[0].isalpha():
        problems.add(f"projects/{project.name}/database", "a project whose name starts with a digit cannot have a "
                     "database: its role and database names start with the project's, and PostgreSQL's with a letter")
        return
    allowed = f"'{own}_<anything>'" if reserved_reason("role", own) or reserved_reason("database", own) \
        else f"'{own}' or '{own}_<anything>'"
    names = [("role", "database/user", project.database.user)]
    names += [("database", f"database/databases/{env}", name) for env, name in project.database.databases]
    for kind, where, value in names:
        path, owner = f"projects/{project.name}/{where}", _owner(value, owners)
        reason = reserved_reason(kind, value)
        if reason:
            problems.add(path, f"{value!r} is reserved: {reason}; name it {allowed}")
        elif owner is None:
            problems.add(path, f"{value!r} is not this project's {kind}; name it {allowed}")
        elif owner != project.name:
            problems.add(path, f"{value!r} is in the names of projects/{owner}; name it {allowed} outside them")


def _volumes(problems, project, projects_by_name):
    """Docker volumes are global and named `<volume>-<environment>`: a project's are named after it, so that
    no entry can mount another project's data, or a volume of the platform's."""
    for container in project.containers:
        for volume, _ in container.volumes:
            owner = _owner(volume, projects_by_name, "-")
            if owner != project.name:
                where = f"is in the names of projects/{owner}" if owner else "is not named after this project"
                problems.add(f"projects/{project.name}/containers/{container.role}/volumes",
                             f"{volume!r} {where}; name it '{project.name}-<anything>'"
                             + (" outside them" if owner else ""))


def _env_files(problems, project):
    directory = f"config/{project.name}/"
    for container in project.containers:
        paths = {posixpath.normpath(container.env_file_path(project.name, env)) for env in ENVIRONMENTS}
        if any(not path.startswith(directory) for path in paths):
            problems.add(f"projects/{project.name}/containers/{container.role}/env_file",
                         f"{container.env_file!r} is outside {directory}: a project reads only its own env files")


def _domains(problems, projects):
    """No domain under another project's wildcard `*.X` (X itself, or anything ending in `.X`: nginx's `*.X`
    matches any depth, and X would share the wildcard's certificate directory)."""
    order = {project.name: index for index, project in enumerate(projects)}
    claims = [(project.name, env, domain) for project in projects
              for env in project.environments for domain in project.domains_for(env)]
    wildcards = {}
    for name, env, domain in claims:
        if domain.startswith("*."):
            wildcards.setdefault(domain[2:], (name, env))
    for name, env, domain in claims:
        labels = domain.removeprefix("*.").split(".")
        for start in range(len(labels)):
            wildcard = "*." + ".".join(labels[start:])
            owner = wildcards.get(wildcard[2:])
            if owner is None or owner[0] == name or wildcard == domain:   # the same wildcard twice: a claim
                continue
            if order[name] > order[owner[0]]:
                problems.add(f"projects/{name}/domains/{env}",
                             f"{domain!r} falls under {wildcard!r} of projects/{owner[0]}/domains/{owner[1]}; "
                             "a wildcard's domains belong to its project")
            else:
                problems.add(f"projects/{owner[0]}/domains/{owner[1]}",
                             f"{wildcard!r} covers {domain!r} of projects/{name}/domains/{env}; "
                             "a wildcard may cover only its own project's domains")


def check(problems, projects) -> None:
    """Add a problem for every name a project's entry takes outside its own."""
    owners = {sql_name(project.name): project.name for project in projects}
    projects_by_name = {project.name: project.name for project in projects}
    for project in projects:
        if project.name == PLATFORM_CONFIG_DIR:
            problems.add(f"projects/{project.name}", f"{project.name!r} is reserved: config/{project.name}/ holds "
                         "the platform's own secrets; choose another project name")
        if project.database is not None:
            _sql_names(problems, project, owners)
        _volumes(problems, project, projects_by_name)
        _env_files(problems, project)
    _domains(problems, projects)
