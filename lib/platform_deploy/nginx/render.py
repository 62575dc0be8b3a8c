"""Render nginx configs from the registry: pure functions, no I/O but reading the template."""

import html
import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import jinja2

# First line of every generated file; the generator only ever removes files that start with it.
MARKER = "Generated from config/projects.yml by platform-deploy. Do not edit by hand."
CERTS_IN_CONTAINER = "/etc/letsencrypt/live"
MAINTENANCE_PAGE = ('<!doctype html><html><head><meta charset="utf-8"><title>Down for maintenance</title></head>'
                    '<body><h1>Down for maintenance</h1><p>{message}</p></body></html>')


@dataclass(frozen=True)
class Server:
    environment: str
    domains: tuple[str, ...]
    tls: bool
    maintenance: object = None    # config.maintenance.Maintenance while the environment is in maintenance

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
    environment.filters.update(html_page=html_page, json_answer=json_answer)
    return environment.get_template("project.conf.j2")


# The maintenance message is the operator's text inside a `return 503 "...";`. nginx's quoted strings know
# only \\ and \" as escapes and expand every $ as a variable (no escape exists for it): the message is escaped
# for its medium first (HTML, JSON), with $ (and in HTML \) spelled so that none is left, then quoted.

def nginx_string(text: str) -> str:
    """``text`` (holding no ``$``) as an nginx double-quoted string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def html_page(message: str) -> str:
    """The 503 page showing ``message``, as an nginx string (ASCII: anything else as a character reference)."""
    shown = html.escape(message).replace("$", "&#36;").replace("\\", "&#92;")
    return nginx_string(MAINTENANCE_PAGE.format(message=shown).encode("ascii", "xmlcharrefreplace").decode())


def json_answer(message: str) -> str:
    """The 503 answer of API locations, as an nginx string."""
    body = json.dumps({"error": "maintenance", "message": message}).replace("$", "\\u0024")
    return nginx_string(body)


def rate_zone(project) -> str | None:
    """Zone names are global in nginx: prefix the project (``__`` never occurs in a project name)."""
    if project.rate_limit is None:
        return None
    return f"{project.name.replace('-', '_')}__{project.rate_limit.zone}"


def render_project(project, has_certificate: Callable[[str], bool], maintenance=None):
    """Return (text, warnings) for one project; ``has_certificate(name)`` says if live/<name>/ exists;
    ``maintenance``: {(project, environment): Maintenance} (config/maintenance.py)."""
    servers, warnings = [], []
    for environment in project.environments:
        domains, closed = project.domains_for(environment), (maintenance or {}).get((project.name, environment))
        server = Server(environment, domains, tls=True, maintenance=closed)
        if not has_certificate(server.certificate):
            server = Server(environment, domains, tls=False, maintenance=closed)
            warnings.append(f"{project.name}/{environment}: no certificate for {server.certificate}; "
                            "serving HTTP only until invoke certs.issue has issued one")
        servers.append(server)
    text = _template().render(project=project, servers=servers, marker=MARKER, rate_zone=rate_zone(project))
    return text, warnings


def render_registry(registry, has_certificate: Callable[[str], bool], only: str | None = None,
                    maintenance=None) -> Rendered:
    """Render every project (or only the one named ``only``), ``maintenance`` as for render_project."""
    projects = [registry.project(only)] if only else registry.projects
    files, warnings = {}, []
    for project in projects:
        text, project_warnings = render_project(project, has_certificate, maintenance)
        files[project.config_filename] = text
        warnings.extend(project_warnings)
    return Rendered(files=files, warnings=tuple(warnings))
