"""Make sure the project's database and role exist in the platform PostgreSQL before a deploy.

The role's password is the one in the project's DATABASE_URL. It reaches psql
through the exec's environment and `\\getenv`, never a command line or output.

This runs as the superuser, so the database itself is asked again what validation already
refused: a role with superuser, createrole, replication or bypassrls, a member of another role
(pg_write_server_files, say, or a superuser it could SET ROLE to), a role that owns a
database the project does not declare (another tenant's, or the platform's), and a declared
database that exists but belongs to another role are refused before anything changes.
Other roles may not even connect to the database (PostgreSQL lets PUBLIC connect by default).
"""

from urllib.parse import unquote, urlsplit

from ..errors import PlatformError
from ..redact import Scrubber
from .scrubbing import public_names
from ..textutil import one_line

# Names are allowlisted by the registry (SQL_NAME), so they can be quoted as literals safely.
# A refusal is a generated DO block that raises: with ON_ERROR_STOP, psql stops there with code 3.
_REFUSE = "SELECT format('DO $refuse$ BEGIN RAISE EXCEPTION %L; END $refuse$', "
_SCRIPT = """\\set ON_ERROR_STOP on
\\getenv password PLATFORM_DB_PASSWORD
""" + _REFUSE + """
  format('role %s has superuser, createrole, replication or bypassrls; give the project a role of its own', rolname))
  FROM pg_roles WHERE rolname = :'role' AND (rolsuper OR rolcreaterole OR rolreplication OR rolbypassrls) \\gexec
""" + _REFUSE + """format('role %s is a member of role %s; give the project a role of its own', :'role',
        pg_get_userbyid(roleid)))
  FROM pg_auth_members WHERE member = (SELECT oid FROM pg_roles WHERE rolname = :'role') LIMIT 1 \\gexec
""" + _REFUSE + """format('role %s owns database %s, which this project does not declare', :'role', datname))
  FROM pg_database WHERE datdba = (SELECT oid FROM pg_roles WHERE rolname = :'role')
   AND datname <> ALL (string_to_array(:'declared', ' ')) LIMIT 1 \\gexec
""" + _REFUSE + """format('database %s belongs to role %s, not %s', datname, pg_get_userbyid(datdba), :'role'))
  FROM pg_database WHERE datname = :'database' AND pg_get_userbyid(datdba) <> :'role' \\gexec
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'role', :'password')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \\gexec
SELECT format('ALTER ROLE %I LOGIN PASSWORD %L', :'role', :'password') \\gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'database', :'role')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'database') \\gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'database') \\gexec
"""


def ensure(engine, settings, project, environment: str, env_vars: dict) -> str:
    """Create the role and database when missing; return what was checked (no secrets)."""
    if project.database is None:
        return "no database declared"
    target = project.database_target(environment, settings.postgres_container)
    if target is None:
        return f"no database declared for {environment}"
    url = env_vars.get("DATABASE_URL")
    if not url:
        raise PlatformError(f"{project.name}/{environment}: DATABASE_URL is not set in the env file; "
                            "it is needed to create the database role")
    password = unquote(urlsplit(url).password or "")
    declared = " ".join(name for _, name in project.database.databases)
    command = ["sh", "-c", 'psql -X -q -U postgres -d postgres -v role="$1" -v database="$2" -v declared="$3" '
               '<<"SQL"\n' + _SCRIPT + "SQL", "sh", target.role, target.database, declared]
    code, output = engine.exec_run(target.container, command, environment={"PLATFORM_DB_PASSWORD": password})
    if code != 0:
        reason = one_line(Scrubber.from_env(env_vars, keep=public_names(settings, project))(output), 300)
        raise PlatformError(f"{target.container}: cannot create database {target.database} for role "
                            f"{target.role}: {reason}")
    return f"{target.container}: database {target.database} (role {target.role}) ready"
