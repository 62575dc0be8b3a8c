"""The database step asks PostgreSQL itself before it touches a role (issue 11, item 1).

Validation already refuses such entries; these projects are built past it, as a registry
edited by hand on the server or a bug in validation would let them through. The step runs
as the superuser, so each refusal must leave every role and database as it was.
"""

import json
import secrets

import pytest
from deploy_support import demo_images, projects, run  # noqa: F401  (fixtures)

from platform_deploy.config.model import Container, Database, Project
from platform_deploy.deploy import database
from platform_deploy.errors import PlatformError

pytestmark = pytest.mark.integration


def psql(engine, settings, sql: str) -> str:
    code, output = engine.exec_run(settings.postgres_container, ["psql", "-X", "-At", "-U", "postgres", "-c", sql])
    assert code == 0, output
    return output.strip()


def project(user: str, databases: dict) -> Project:
    name = f"r{secrets.token_hex(4)}"
    return Project(name=name, domains=(("production", (f"{name}.test",)),),
                   containers=(Container(role="web", name=f"{name}-web", port=80),),
                   database=Database(type="postgresql", user=user, databases=tuple(databases.items())))


def url(role: str, database_name: str) -> dict:
    return {"DATABASE_URL": f"postgresql://{role}:stolen-{secrets.token_hex(4)}@db:5432/{database_name}"}


def password_of(engine, settings, role: str) -> str:
    return psql(engine, settings, f"SELECT rolpassword FROM pg_authid WHERE rolname = '{role}'")


@pytest.fixture
def victim(engine, platform_settings):
    """A tenant's role owning its database, as a deploy of another project made them."""
    role = f"v{secrets.token_hex(4)}"
    psql(engine, platform_settings, f"CREATE ROLE {role} LOGIN PASSWORD 'victim-password'")
    psql(engine, platform_settings, f"CREATE DATABASE {role}_production OWNER {role}")
    yield role
    psql(engine, platform_settings, f"DROP DATABASE IF EXISTS {role}_production WITH (FORCE)")
    psql(engine, platform_settings, f"DROP ROLE IF EXISTS {role}")


def test_a_superuser_role_is_refused_and_keeps_its_password(engine, platform_settings):
    before = password_of(engine, platform_settings, "postgres")
    hostile = project("postgres", {"production": "postgres"})
    with pytest.raises(PlatformError, match="role postgres has superuser, createrole, replication or bypassrls"):
        database.ensure(engine, platform_settings, hostile, "production", url("postgres", "postgres"))
    assert password_of(engine, platform_settings, "postgres") == before


def test_a_member_of_a_privileged_role_is_refused_and_keeps_its_password(engine, platform_settings, victim):
    """pg_write_server_files lets a role write any file the server can: a project's role is a member of nothing."""
    psql(engine, platform_settings, f"GRANT pg_write_server_files TO {victim}")
    before = password_of(engine, platform_settings, victim)
    hostile = project(victim, {"production": f"{victim}_production"})
    with pytest.raises(PlatformError, match=f"role {victim} is a member of role pg_write_server_files"):
        database.ensure(engine, platform_settings, hostile, "production", url(victim, f"{victim}_production"))
    assert password_of(engine, platform_settings, victim) == before


def test_another_tenants_role_is_refused_and_keeps_its_password(engine, platform_settings, victim):
    before = password_of(engine, platform_settings, victim)
    hostile = project(victim, {"production": f"{victim}_mine"})
    with pytest.raises(PlatformError, match=f"role {victim} owns database {victim}_production, which this "
                                            "project does not declare"):
        database.ensure(engine, platform_settings, hostile, "production", url(victim, f"{victim}_mine"))
    assert password_of(engine, platform_settings, victim) == before
    assert psql(engine, platform_settings, f"SELECT count(*) FROM pg_database WHERE datname = '{victim}_mine'") == "0"


def test_another_tenants_database_is_refused(engine, platform_settings, victim):
    hostile = project("intruder", {"production": f"{victim}_production"})
    with pytest.raises(PlatformError, match=f"database {victim}_production belongs to role {victim}, not intruder"):
        database.ensure(engine, platform_settings, hostile, "production", url("intruder", f"{victim}_production"))
    assert psql(engine, platform_settings, "SELECT count(*) FROM pg_roles WHERE rolname = 'intruder'") == "0"


def test_a_projects_own_role_and_databases_are_made_once_and_kept_from_other_roles(engine, platform_settings,
                                                                                    victim):
    role = f"o{secrets.token_hex(4)}"
    own = project(role, {"production": f"{role}_production", "staging": f"{role}_staging"})
    try:
        for environment in ("production", "staging", "production"):
            note = database.ensure(engine, platform_settings, own, environment,
                                   url(role, f"{role}_{environment}"))
            assert f"database {role}_{environment} (role {role}) ready" in note
        owners = psql(engine, platform_settings, "SELECT datname || ':' || pg_get_userbyid(datdba) FROM pg_database "
                                                 f"WHERE datname LIKE '{role}_%' ORDER BY 1")
        assert owners.split() == [f"{role}_production:{role}", f"{role}_staging:{role}"]
        code, output = engine.exec_run(platform_settings.postgres_container,
                                       ["psql", "-X", "-U", victim, "-d", f"{role}_production", "-c", "SELECT 1"])
        assert code != 0 and "permission denied for database" in output, output
    finally:
        for environment in ("production", "staging"):
            psql(engine, platform_settings, f"DROP DATABASE IF EXISTS {role}_{environment} WITH (FORCE)")
        psql(engine, platform_settings, f"DROP ROLE IF EXISTS {role}")


def test_a_deploy_naming_another_container_as_its_database_is_refused_before_anything(projects):  # noqa: F811
    """Item 3: another tenant's container, named as the database, is never connected to this project's network
    (nor exec'd into): the deploy is refused in one line before it changes anything."""
    victim = projects()
    assert victim.deploy("v1").ok
    intruder = projects()
    target = victim.live_name("backend")
    database = lambda entries: entries[intruder.name]["database"]  # noqa: E731
    intruder._edit_registry(lambda entries: database(entries).__setitem__("container", target))
    try:
        result = intruder.invoke("deploy", "--project", intruder.name, "--env", "production", "--tag", "v1")
    finally:   # the registry must load again for the cleanup
        intruder._edit_registry(lambda entries: database(entries).pop("container"))
    assert result.returncode != 0
    error = result.stderr.strip().splitlines()
    assert len(error) == 1 and f"projects/{intruder.name}/database/container: {target!r} is not the platform's " \
        "PostgreSQL" in error[0] and "Traceback" not in result.stderr, result.stderr
    networks = json.loads(run(["docker", "inspect", "--format", "{{json .NetworkSettings.Networks}}", target]).stdout)
    assert set(networks) == {f"{victim.name}-production"}
    assert intruder.containers() == {}
