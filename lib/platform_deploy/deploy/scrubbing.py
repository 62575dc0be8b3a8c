"""The scrubber of a deploy or a recovery: the project's env values hidden, the names it shows kept."""

from ..envfiles import readable_envs
from ..naming import network_name, volume_name
from ..redact import Scrubber


def public_names(settings, project) -> set[str]:
    """What names the project's own public things and the platform's services, as the tool prints them.

    An env value equal to one of these (``NODE_ENV=production``, ``DB_HOST=postgres-platform``) is not a
    secret, and hiding it would wipe the project's names from every line: the project, its environments,
    domains, container roles and names (live names too), networks, volumes, database names and role, and
    the platform's nginx and PostgreSQL containers and network.
    """
    names = {project.name, settings.nginx_container, settings.postgres_container, settings.network}
    for environment in project.environments:
        names |= {environment, network_name(project.name, environment), *project.domains_for(environment)}
        for container in project.containers:
            names |= {container.container_name(environment),
                      *(volume_name(volume, environment) for volume, _ in container.volumes)}
    names |= {name for container in project.containers for name in (container.role, container.name)}
    if project.database is not None:
        names |= {project.database.user, *(database for _, database in project.database.databases)}
    return names


def scrubber(settings, project, environment: str) -> Scrubber:
    """The values of the env files of project/environment that can be read now, its public names kept."""
    return Scrubber.from_env(*readable_envs(settings, project, environment), keep=public_names(settings, project))
