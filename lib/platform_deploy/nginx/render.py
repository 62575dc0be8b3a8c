"""Render nginx configs from the registry: pure functions, no I/O but reading the template."""

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import jinja2

# First line of every generated file; the generator only ever removes files that start with it.
MARKER = "Generated from config/projects.yml by platform-deploy. Do not edit by hand."
CERTS_IN_CONTAINER = "/etc/letsencrypt/live"


@dataclass(frozen=True)
class Server:
    environment: str
    domains: tuple[str, ...]
    tls: bool

    @property
    def certificate(self) -> str:
        """certbot's directory name for the first domain (a wildcard's ``*.`` dropped)."""
        return self.domains[0].removeprefix("*.")

    @property
    def cert_dir(self) -> str:
        return f"{CERTS_IN_CONTAINER}/{self.certificate}"


@dataclass(frozen=True)
class Rendered:
    files: dict  # file name -> text
    warnings: tuple[str, ...]


@lru_cache(maxsize=1)
def _template():
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("platform_deploy.nginx", "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    return environment.get_template("project.conf.j2")


def rate_zone(project) -> str | None:
    """Zone names are global in nginx: prefix the project (``__`` never occurs in a project name)."""
    if project.rate_limit is None:
        return None
    return f"{project.name.replace('-', '_')}__{project.rate_limit.zone}"


def render_project(project, has_certificate: Callable[[str], bool]):
    """Return (text, warnings) for one project; ``has_certificate(name)`` says if live/<name>/ exists."""
    servers, warnings = [], []
    for environment in project.environments:
        domains = project.domains_for(environment)
        server = Server(environment, domains, tls=True)
        if not has_certificate(server.certificate):
            server = Server(environment, domains, tls=False)
            warnings.append(f"{project.name}/{environment}: no certificate for {server.certificate}; "
                            "serving HTTP only until certbot has issued one")
        servers.append(server)
    text = _template().render(project=project, servers=servers, marker=MARKER, rate_zone=rate_zone(project))
    return text, warnings


def render_registry(registry, has_certificate: Callable[[str], bool], only: str | None = None) -> Rendered:
    """Render every project (or only the one named ``only``)."""
    projects = [registry.project(only)] if only else registry.projects
    files, warnings = {}, []
    for project in projects:
        text, project_warnings = render_project(project, has_certificate)
        files[project.config_filename] = text
        warnings.extend(project_warnings)
    return Rendered(files=files, warnings=tuple(warnings))
