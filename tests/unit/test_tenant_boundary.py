"""Issue 11, the registry's half: a project's entry names only its own things (roles, databases, env files,
containers), the platform's shared services by their configured names, and domains no other project owns."""

import os
import subprocess
from pathlib import Path

import pytest

from platform_deploy import naming
from platform_deploy.config.model import DEFAULT_ENV_FILE, Container, Database, Project
from platform_deploy.config.yamlsafe import YamlProblem, parse_yaml
from platform_deploy.errors import PlatformError
from platform_deploy.plan import make_plan

F = "config/projects.yml"


def entry(name, domain, **extra):
    """A minimal valid project entry named ``name`` answering to ``domain``."""
    return {"domains": {"production": domain},
            "containers": {"web": {"name": f"{name}-web", "port": 80}}, **extra}


def registry(**projects):
    return {"projects": {name.replace("_", "-"): value for name, value in projects.items()}}


def one(problems):
    assert len(problems) == 1, problems
    return problems[0]


def database(user, **databases):
    return {"database": {"type": "postgresql", "user": user, "databases": databases or {"production": user}}}


# --- 1. database roles and names are the project's own ------------------------------------------------

def test_own_role_and_databases_are_accepted(load):
    data = registry(my_shop=entry("my-shop", "shop.example.com",
                                  **database("my_shop", production="my_shop", staging="my_shop_staging")),
                    blog=entry("blog", "blog.example.com", **database("blog_app", production="blog_prod")))
    assert load(data).project("my-shop").database.user == "my_shop"


@pytest.mark.parametrize("user, reason", [
    ("postgres", "'postgres' is reserved: PostgreSQL's superuser"),
    ("pg_read_all_data", "'pg_read_all_data' is reserved: names starting with pg_ are PostgreSQL's own roles"),
])
def test_reserved_role_is_refused_with_its_reason(refused, user, reason):
    problem = one(refused(registry(shop=entry("shop", "shop.example.com", **database(user, production="shop")))))
    assert problem.startswith(f"{F}: projects/shop/database/user: {reason}")


def test_a_project_named_like_a_reserved_role_cannot_have_a_database(refused):
    assert refused(registry(postgres=entry("postgres", "pg.example.com", **database("postgres")))) == [
        f"{F}: projects/postgres/database/user: 'postgres' is reserved: PostgreSQL's superuser; "
        "name it 'postgres_<anything>'",
        f"{F}: projects/postgres/database/databases/production: 'postgres' is reserved: PostgreSQL's own database; "
        "name it 'postgres_<anything>'"]


def test_a_project_named_with_a_leading_digit_cannot_have_a_database(refused):
    data = registry(**{"9shop": entry("9shop", "shop.example.com", **database("shop"))})
    assert one(refused(data)) == (
        f"{F}: projects/9shop/database: a project whose name starts with a digit cannot have a database: its role "
        "and database names start with the project's, and PostgreSQL's with a letter")


def test_another_projects_role_is_refused(refused):
    data = registry(shop=entry("shop", "shop.example.com", **database("shop")),
                    blog=entry("blog", "blog.example.com", **database("shop", production="blog")))
    assert refused(data) == [
        f"{F}: projects/blog: database role 'shop' is already used by projects/shop/database/user",
        f"{F}: projects/blog/database/user: 'shop' is in the names of projects/shop; name it 'blog' or "
        "'blog_<anything>' outside them"]


def test_role_outside_every_projects_names_is_refused(refused):
    data = registry(shop=entry("shop", "shop.example.com", **database("app", production="shop")))
    assert one(refused(data)) == (
        f"{F}: projects/shop/database/user: 'app' is not this project's role; name it 'shop' or 'shop_<anything>'")


def test_role_in_a_longer_project_names_space_is_refused(refused):
    # 'shop_eu_x' starts with 'shop_' but belongs to shop-eu's names.
    data = registry(shop=entry("shop", "shop.example.com", **database("shop_eu_x", production="shop")),
                    shop_eu=entry("shop-eu", "eu.shop-eu.example.com", **database("shop_eu")))
    assert one(refused(data)) == (
        f"{F}: projects/shop/database/user: 'shop_eu_x' is in the names of projects/shop-eu; name it 'shop' or "
        "'shop_<anything>' outside them")


def test_two_projects_sharing_a_role_is_refused_as_a_claim():
    from platform_deploy.config.validate import Problems, _check_unique

    def project(name):
        return Project(name=name, domains=(("production", (f"{name}.example.com",)),),
                       containers=(Container("web", f"{name}-web", 80),),
                       database=Database("postgresql", "app", (("production", f"{name}_db"),)))
    problems = Problems(F)
    _check_unique(problems, [project("a"), project("b")])
    assert problems.lines == [f"{F}: projects/b: database role 'app' is already used by projects/a/database/user"]


@pytest.mark.parametrize("name, why", [("postgres", "is reserved: PostgreSQL's own database"),
                                       ("template1", "is reserved: PostgreSQL's own database"),
                                       ("blog", "is not this project's database"),
                                       ("shopping", "is not this project's database")])
def test_database_outside_the_projects_names_is_refused(refused, name, why):
    data = registry(shop=entry("shop", "shop.example.com", **database("shop", production=name)))
    assert one(refused(data)) == (f"{F}: projects/shop/database/databases/production: {name!r} {why}; "
                                  "name it 'shop' or 'shop_<anything>'")


def test_reserved_database_name_is_refused_even_for_its_namesake(refused):
    data = registry(template1=entry("template1", "t.example.com", **database("template1")))
    assert one(refused(data)) == (f"{F}: projects/template1/database/databases/production: 'template1' is "
                                  "reserved: PostgreSQL's own database; name it 'template1_<anything>'")


# --- 2. env files stay in config/<project>/ ----------------------------------------------------------

@pytest.mark.parametrize("env_file", ["config/platform/.env.postgres", "config/blog/.env.production",
                                      "config/.env", "secrets/{project}.env", "config/{environment}/.env",
                                      "config/shop", "config/shop/../blog/.env"])
def test_env_file_outside_the_projects_directory_is_refused(refused, env_file):
    data = registry(shop=entry("shop", "shop.example.com"), blog=entry("blog", "blog.example.com"))
    data["projects"]["shop"]["containers"]["web"]["env_file"] = env_file
    problem = one(refused(data))
    assert problem.startswith(f"{F}: projects/shop/containers/web/env_file: {env_file!r} ")
    if ".." not in env_file:
        assert problem.endswith("is outside config/shop/: a project reads only its own env files")


@pytest.mark.parametrize("env_file", [DEFAULT_ENV_FILE, "config/shop/web.env", "config/{project}/{environment}.env",
                                      "config/shop/sub/.env.{environment}"])
def test_env_file_inside_the_projects_directory_is_accepted(load, env_file):
    data = registry(shop=entry("shop", "shop.example.com"))
    data["projects"]["shop"]["containers"]["web"]["env_file"] = env_file
    assert load(data).projects[0].containers[0].env_file == env_file


def test_a_project_named_platform_is_refused(refused):
    """config/platform/ holds the platform's own secrets: a project of that name could name them its env files."""
    data = registry(platform=entry("platform", "plat.example.com"))
    data["projects"]["platform"]["containers"]["web"]["env_file"] = "config/{project}/.env.postgres"
    assert one(refused(data)) == (f"{F}: projects/platform: 'platform' is reserved: config/platform/ holds the "
                                  "platform's own secrets; choose another project name")


# --- 3. the database container is the platform's ----------------------------------------------------

def test_explicit_platform_container_is_the_same_database_as_the_default(refused):
    data = registry(shop=entry("shop", "shop.example.com", **database("shop", production="shop")),
                    shop_x=entry("shop-x", "x.example.com", **database("shop_x", production="shop")))
    data["projects"]["shop-x"]["database"]["container"] = "postgres-platform"
    problems = refused(data)
    assert f"{F}: projects/shop-x: database 'shop' is already used by projects/shop/database/databases/production" \
        in problems


def project_with_database(container):
    return Project(name="shop", domains=(("production", ("shop.example.com",)),),
                   containers=(Container("web", "shop-web", 80),),
                   database=Database("postgresql", "shop", (("production", "shop"),), container=container))


def test_database_target_refuses_another_container():
    with pytest.raises(PlatformError) as error:
        project_with_database("blog-redis").database_target("production", "postgres-platform")
    assert str(error.value) == ("projects/shop/database/container: 'blog-redis' is not the platform's PostgreSQL; "
                                "remove the key or name postgres-platform")


@pytest.mark.parametrize("container", [None, "postgres-platform"])
def test_database_target_accepts_the_platform_container(container):
    target = project_with_database(container).database_target("production", "postgres-platform")
    assert (target.container, target.database, target.role) == ("postgres-platform", "shop", "shop")


def test_dry_run_refuses_a_foreign_database_container_in_one_line(tmp_path):
    from test_cli_golden import INVOKE   # the real CLI, as a user runs it
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "projects.yml").write_text(
        "projects:\n  shop:\n    domains: {production: shop.example.com}\n"
        "    containers: {web: {name: shop-web, port: 80, image: ghcr.io/x/shop}}\n"
        "    database: {type: postgresql, user: shop, container: blog-redis, databases: {production: shop}}\n")
    env = {key: value for key, value in os.environ.items() if not key.startswith("PLATFORM_")}
    env.update(PLATFORM_ROOT=str(tmp_path), PLATFORM_DEPLOYMENTS_DIR=str(tmp_path / "deployments"),
               PLATFORM_BACKUPS_DIR=str(tmp_path / "backups"), DOCKER_HOST="unix:///nonexistent")
    result = subprocess.run((*INVOKE, "deploy", "--project", "shop", "--env", "production", "--dry-run"),
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: config/projects.yml: projects/shop/database/container: 'blog-redis' is not the platform's "
        "PostgreSQL; remove the key: a project's database is always in the platform's PostgreSQL"]


# --- 6. wildcards and certificate directories ---------------------------------------------------------

@pytest.mark.parametrize("wildcard, victim", [
    ("*.victim.example", "victim.example"),
    ("*.victim.example", "shop.victim.example"),
    ("*.victim.example", "a.b.victim.example"),
    ("*.example.com", "victim.example.com"),
    ("*.victim.example", "*.eu.victim.example"),
])
def test_wildcard_over_another_projects_domain_is_refused(refused, wildcard, victim):
    data = registry(victim=entry("victim", victim), thief=entry("thief", wildcard))
    problems = refused(data)
    assert any(line.startswith(f"{F}: projects/thief/domains/production: {wildcard!r} covers {victim!r} of "
                               "projects/victim/domains/production") for line in problems), problems


def test_domain_under_another_projects_wildcard_is_refused(refused):
    data = registry(owner=entry("owner", "*.owner.example"), thief=entry("thief", "thief.owner.example"))
    assert one(refused(data)) == (
        f"{F}: projects/thief/domains/production: 'thief.owner.example' falls under '*.owner.example' of "
        "projects/owner/domains/production; a wildcard's domains belong to its project")


def test_wildcard_over_its_own_projects_domains_is_allowed(load):
    data = registry(notes=entry("notes", "*.notes.example"))
    data["projects"]["notes"]["domains"]["staging"] = ["staging.notes.example", "notes.example"]
    assert load(data).project("notes").domains_for("staging") == ("staging.notes.example", "notes.example")


def test_two_projects_cannot_share_a_certificate_directory():
    from platform_deploy.config.validate import Problems, _check_unique

    def project(name, domains):
        return Project(name=name, domains=domains, containers=(Container("web", f"{name}-web", 80),))
    problems = Problems(F)
    _check_unique(problems, [project("a", (("production", ("a.example",)), ("staging", ("*.shared.example",)))),
                             project("b", (("production", ("b.example",)), ("staging", ("shared.example",))))])
    assert f"{F}: projects/b: certificate directory 'shared.example' is already used by " \
           "projects/a/domains/staging" in problems.lines


# --- 7. lengths and counts ---------------------------------------------------------------------------

LONG = "/" + "a" * 250


@pytest.mark.parametrize("where, value, message", [
    ("containers/web/api_locations", "/" + "a" * 200, "is longer than 200 characters"),
    ("containers/web/smoke_paths", "/" + "a" * 200, "is longer than 200 characters"),
    ("containers/web/image", "ghcr.io/" + "a" * 250, "is longer than 255 characters"),
    ("containers/web/name", "w" * 53, "is longer than 52 characters"),
    ("containers/web/volumes", {"v" * 64: "/data"}, "is longer than 63 characters"),
    ("containers/web/volumes", {"data": "/" + "d" * 255}, "is longer than 255 characters"),
    ("containers/web/migrations", "x" * 1001, "is longer than 1000 characters"),
    ("containers/web/env_file", "config/shop/" + "e" * 250, "is longer than 255 characters"),
])
def test_value_over_its_length_limit_is_refused(refused, where, value, message):
    data = registry(shop=entry("shop", "shop.example.com"))
    *parents, last = where.split("/")
    node = data["projects"]["shop"]
    for key in parents:
        node = node[key]
    node[last] = value
    problem = one(refused(data))
    assert problem.startswith(f"{F}: projects/shop/{where}") and problem.endswith(message)


def test_too_many_domains_or_locations_are_refused(refused):
    data = registry(shop=entry("shop", "shop.example.com"))
    data["projects"]["shop"]["domains"]["production"] = [f"d{i}.shop.example.com" for i in range(51)]
    data["projects"]["shop"]["containers"]["web"]["api_locations"] = [f"/a{i}" for i in range(51)]
    assert refused(data) == [
        f"{F}: projects/shop/domains/production: 51 values; at most 50 are allowed",
        f"{F}: projects/shop/containers/web/api_locations: 51 values; at most 50 are allowed"]


def test_too_many_locations_across_the_project_are_refused(refused):
    data = registry(shop=entry("shop", "shop.example.com"))
    data["projects"]["shop"]["containers"]["web"]["api_locations"] = [f"/a{i}" for i in range(30)]
    data["projects"]["shop"]["containers"]["api"] = {"name": "shop-api", "port": 80,
                                                     "api_locations": [f"/b{i}" for i in range(30)]}
    assert refused(data) == [f"{F}: projects/shop: 60 API locations; at most 50 are allowed per project"]


def test_longest_domain_fits_nginx_server_names_hash_bucket():
    from platform_deploy.config.validate import MAX_DOMAIN
    conf = (Path(__file__).resolve().parents[2] / "platform" / "nginx" / "nginx.conf").read_text()
    bucket = int(conf.split("server_names_hash_bucket_size", 1)[1].split(";")[0])
    assert MAX_DOMAIN + 2 * 8 <= bucket   # the name, its length and a pointer, rounded up to an alignment


# --- 8. no IP addresses, localhost or single-label names ---------------------------------------------

@pytest.mark.parametrize("domain, reason", [
    ("127.0.0.1", "is an IP address"),
    ("1.2.3.4", "is an IP address"),
    ("0x7f.1", "ends in '1'"),
    ("a.0x7f", "ends in '0x7f'"),
    ("localhost", "is a single-label name"),
    ("default", "is a single-label name"),
    ("*.localhost", "is a wildcard over a top-level name"),
    ("*.com", "is a wildcard over a top-level name"),
])
def test_special_names_are_refused(refused, domain, reason):
    problem = one(refused(registry(shop=entry("shop", domain))))
    assert problem.startswith(f"{F}: projects/shop/domains/production: {domain!r} {reason}")


@pytest.mark.parametrize("domain", ["shop.localhost", "staging.shop.test", "shop.example.com", "x1.example.com",
                                    "xn--bcher-kva.example", "*.shop.localhost"])
def test_ordinary_names_are_accepted(load, domain):
    assert load(registry(shop=entry("shop", domain))).projects[0].primary_domain == domain


# --- 11. the generator never overwrites a hand-written conf.d file ----------------------------------

def test_generator_refuses_to_overwrite_a_hand_written_file(tmp_path, load):
    from platform_deploy.nginx import files
    from platform_deploy.settings import Settings
    settings = Settings(root=tmp_path)
    settings.conf_dir.mkdir(parents=True)
    (settings.conf_dir / "shop.example.com.conf").write_text("# hand-written\nserver { }\n")
    with pytest.raises(PlatformError) as error:
        files.plan(settings, load(registry(shop=entry("shop", "shop.example.com"))))
    assert str(error.value) == (
        f"{settings.relative(settings.conf_dir)}/shop.example.com.conf was not generated by platform-deploy "
        "(no marker on its first line): not overwritten; move it away or change projects/shop's first "
        "production domain")


@pytest.mark.parametrize("server_names, taken, owner", [
    ("shop.example.com", "shop.example.com", "shop"),                          # the same name
    ("www.example.com\n    SHOP.example.com", "shop.example.com", "shop"),     # over lines, any case
    ("a.notes.example.com", "a.notes.example.com", "notes"),                   # under a project's wildcard
    ("*.example.com", "*.example.com", "shop"),                                # a wildcard over a project's name
    ("example.com other.example.org", None, None),                             # nobody's
])
def test_a_hand_written_file_serving_a_projects_domain_is_reported(tmp_path, load, server_names, taken, owner):
    from platform_deploy.nginx import files
    from platform_deploy.settings import Settings
    settings = Settings(root=tmp_path)
    settings.conf_dir.mkdir(parents=True)
    (settings.conf_dir / "00-mine.conf").write_text(
        f"# server_name shop.example.com; (a comment)\nserver {{\n  server_name {server_names};\n}}\n")
    planned = files.plan(settings, load(registry(shop=entry("shop", "shop.example.com"),
                                                 notes=entry("notes", "*.notes.example.com"))))
    expected = (f"{settings.relative(settings.conf_dir)}/00-mine.conf: server_name {taken} belongs to "
                f"projects/{owner}; remove it there (the generated {owner}.example.com.conf serves it)")
    assert planned.taken == ((expected,) if taken else ())


@pytest.mark.parametrize("text", [
    "server { server_name \"shop.example.com\"; }",          # quoted, as nginx allows
    "server { server_name 'shop.example.com'; }",
    "server { server_name .shop.example.com; }",              # nginx: the name and its subdomains
    "server { server_name shop.example.com.; }",              # a trailing dot
    "include snippets/mine.inc;",                             # in a file it includes (relative to /etc/nginx)
    "include /etc/nginx/snippets/*.inc;",                     # absolute, with a glob
])
def test_a_hand_written_claim_is_found_however_it_is_spelled(tmp_path, load, text):
    from platform_deploy.nginx import files
    from platform_deploy.settings import Settings
    settings = Settings(root=tmp_path)
    settings.conf_dir.mkdir(parents=True)
    (settings.conf_dir.parent / "snippets").mkdir()
    (settings.conf_dir.parent / "snippets" / "mine.inc").write_text("server { server_name shop.example.com; }\n")
    (settings.conf_dir / "00-mine.conf").write_text(text + "\n")
    planned = files.plan(settings, load(registry(shop=entry("shop", "shop.example.com"))))
    assert planned.taken and planned.taken[0].startswith(
        f"{settings.relative(settings.conf_dir)}/00-mine.conf: server_name shop.example.com belongs to projects/shop")


# --- 13. internal role labels ------------------------------------------------------------------------

@pytest.mark.parametrize("role", sorted(naming.INTERNAL_ROLES))
def test_container_role_named_like_an_internal_role_is_refused(refused, role):
    data = registry(shop=entry("shop", "shop.example.com"))
    data["projects"]["shop"]["containers"][role] = {"name": "shop-x", "port": 80}
    assert one(refused(data)) == (f"{F}: projects/shop/containers/{role}: {role!r} is reserved: the platform "
                                  "labels its own helper containers with it; choose another role")


def test_internal_roles_are_the_ones_the_code_uses():
    from platform_deploy.backup import volumes
    from platform_deploy.deploy import switch
    used = {switch.HELPER_ROLE, switch.HOLD_ROLE, volumes.helper_labels("p", "production")["platform.role"],
            "placeholder"}
    assert used <= naming.INTERNAL_ROLES


# --- 14. tags and YAML 1.1 scalars --------------------------------------------------------------------

@pytest.mark.parametrize("tag", ["v1\n", "v1\r", "v1 ", "-v1"])
def test_tag_with_a_trailing_newline_is_refused(tag):
    project = Project(name="shop", domains=(("production", ("shop.example.com",)),),
                      containers=(Container("web", "shop-web", 80, image="ghcr.io/x/shop"),))
    with pytest.raises(PlatformError, match="is not a Docker image tag"):
        make_plan(project, "production", tag, "20260101000000-abcd")


@pytest.mark.parametrize("text", ["1:30", "0x50", "0o12", "1_000", "0b1", "+0x50"])
def test_yaml_11_integers_are_strings_and_refused_as_ports(refused, text):
    source = f"projects:\n  shop:\n    domains: {{production: shop.example.com}}\n" \
             f"    containers: {{web: {{name: shop-web, port: {text}}}}}\n"
    assert one(refused(source)) == f"{F}: projects/shop/containers/web/port: {text!r} is not an integer port (1-65535)"


@pytest.mark.parametrize("text, value", [
    ("80", 80), ("-3", -3), ("+7", 7), ("0080", "0080"), ("08", "08"), ("1.5", 1.5), ("1.5e+3", 1500.0),
    ("1.5e3", "1.5e3"), ("1e3", "1e3"), ("true", True), ("False", False), ("~", None), ("yes", "yes"),
    ("off", "off"), ("1:30", "1:30"), ("0x50", "0x50")])
def test_scalars_resolve_in_yaml_12_core_form(text, value):
    assert parse_yaml(f"v: {text}\n".encode()) == {"v": value}


def test_explicit_int_tag_accepts_decimal_only():
    with pytest.raises(YamlProblem, match="is not a valid int"):
        parse_yaml(b"v: !!int 0x50\n")


def test_yaml_11_boolean_words_are_refused_for_migrations(refused):
    source = ("projects:\n  shop:\n    domains: {production: shop.example.com}\n"
              "    containers: {web: {name: shop-web, port: 80, migrations: no}}\n")
    assert one(refused(source)) == (
        f"{F}: projects/shop/containers/web/migrations: 'no' is a YAML 1.1 boolean, read as text: write false or true")


def test_migrations_false_still_works(load):
    source = ("projects:\n  shop:\n    domains: {production: shop.example.com}\n"
              "    containers: {web: {name: shop-web, port: 80, migrations: false}}\n")
    assert load(source).projects[0].containers[0].migrations is False



def test_deploy_refuses_a_foreign_database_container_before_changing_anything(world):
    from dataclasses import replace
    database = replace(world.registry.projects[0].database, container="blog-redis")
    world.registry = replace(world.registry, projects=(replace(world.registry.projects[0], database=database),))
    calls_before = list(world.engine.calls)
    with pytest.raises(PlatformError, match="projects/shop/database/container: 'blog-redis' is not the platform's"):
        world.deployment("v1")
    assert world.journal() is None and not (world.settings.deployments_dir / "shop").exists()
    assert world.engine.calls == calls_before
