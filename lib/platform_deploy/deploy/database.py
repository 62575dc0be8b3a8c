"""Make sure the project's database and role exist in the platform PostgreSQL before a deploy.

The role's password is the one in the project's DATABASE_URL. It reaches psql
through the exec's environment and `\\getenv`, never a command line or output.
"""

from urllib.parse import unquote, urlsplit

from ..errors import PlatformError
from ..redact import Scrubber
from ..textutil import one_line

# Names are allowlisted by the registry (SQL_NAME), so they can be quoted as literals safely.
_SCRIPT = """\\set ON_ERROR_STOP on
\\getenv password PLATFORM_DB_PASSWORD
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'role', :'password')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \\gexec
SELECT format('ALTER ROLE %I LOGIN PASSWORD %L', :'role', :'password') \\gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'database', :'role')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'database') \\gexec
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
    command = ["sh", "-c", 'psql -X -q -U postgres -d postgres -v role="$1" -v database="$2" <<"SQL"\n'
               + _SCRIPT + "SQL", "sh", target.role, target.database]
    code, output = engine.exec_run(target.container, command, environment={"PLATFORM_DB_PASSWORD": password})
    if code != 0:
        reason = one_line(Scrubber.from_env(env_vars)(output), 300)   # psql may quote any of them
        raise PlatformError(f"{target.container}: cannot create database {target.database} for role "
                            f"{target.role}: {reason}")
    return f"{target.container}: database {target.database} (role {target.role}) ready"
