"""The platform services, started for real from platform/docker-compose.yml under test-only names."""

import http.client
import os
import stat
import subprocess
import sys

import pytest

from platform_deploy import platform_services
from platform_deploy.nginx import files, live
from platform_deploy.engine.docker import DockerEngine
from platform_deploy.settings import REPO_ROOT

pytestmark = pytest.mark.integration
ENGINE = DockerEngine()


def psql(container: str, sql: str, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", "exec", *options, container, "psql", "-U", "postgres", "-tAc", sql],
                          capture_output=True, text=True, check=False)


def container_ids(settings) -> list[str]:
    return [ENGINE.inspect(name).id for name in platform_services.containers(settings)]


def networks_of(container: str) -> set[str]:
    output = subprocess.run(["docker", "inspect", "-f", "{{range $name, $_ := .NetworkSettings.Networks}}{{$name}} {{end}}",
                             container], capture_output=True, text=True, check=True).stdout
    return set(output.split())


def test_services_come_up_healthy(platform_stack):
    for name in platform_services.containers(platform_stack.settings):
        state = ENGINE.inspect(name)
        assert (state.status, state.health) == ("running", "healthy"), name
    connection = http.client.HTTPConnection("127.0.0.1", platform_stack.http_port, timeout=5)
    connection.request("GET", "/nginx-health")
    response = connection.getresponse()
    assert (response.status, response.read()) == (200, b"ok\n")


def test_unknown_host_gets_no_answer(platform_stack):
    connection = http.client.HTTPConnection("127.0.0.1", platform_stack.http_port, timeout=5)
    connection.request("GET", "/", headers={"Host": "not-a-project.example"})
    with pytest.raises(http.client.RemoteDisconnected):
        connection.getresponse()


def test_ports_are_published_on_loopback_only(platform_stack):
    output = subprocess.run(["docker", "port", platform_stack.settings.nginx_container],
                            capture_output=True, text=True, check=True).stdout
    bindings = [line.split(" -> ")[1] for line in output.splitlines()]
    assert sorted(bindings) == sorted(f"127.0.0.1:{port}" for port in (platform_stack.http_port,
                                                                        platform_stack.https_port))
    assert subprocess.run(["docker", "port", platform_stack.settings.postgres_container],
                          capture_output=True, text=True, check=True).stdout == ""


def test_nginx_accepts_the_generated_config(platform_stack):
    settings = platform_stack.settings
    assert sorted(p.name for p in settings.conf_dir.glob("*.conf")) == ["filter-ical.de.conf"]
    live.test_config(ENGINE, settings)


def test_nginx_accepts_the_generated_config_with_certificates(platform_stack):
    settings = platform_stack.settings
    registry = platform_stack.registry
    names = ["filter-ical.de", "staging.filter-ical.de"]
    try:
        for name in names:
            (settings.certs_dir / "live" / name).mkdir(parents=True)
            subprocess.run(
                ["docker", "run", "--rm", "-v", f"{settings.certs_dir}:/certs", "platform-nginx:local",
                 "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={name}",
                 "-keyout", f"/certs/live/{name}/privkey.pem", "-out", f"/certs/live/{name}/fullchain.pem"],
                check=True, capture_output=True)
        planned = files.plan(settings, registry)
        assert planned.write == ("filter-ical.de.conf",) and not planned.warnings
        files.apply(settings, planned)
        assert "listen 443 ssl http2;" in (settings.conf_dir / "filter-ical.de.conf").read_text()
        live.test_config(ENGINE, settings)
    finally:
        subprocess.run(["rm", "-rf", str(settings.certs_dir / "live")], check=True)
        files.apply(settings, files.plan(settings, registry))


def test_postgres_answers_select_1(platform_stack):
    result = psql(platform_stack.settings.postgres_container, "SELECT 1")
    assert (result.returncode, result.stdout.strip()) == (0, "1"), result.stderr


def test_postgres_network_connections_need_the_password(platform_stack):
    settings = platform_stack.settings
    password_line = platform_services.postgres_env_file(settings).read_text().strip()
    assert password_line.startswith("POSTGRES_PASSWORD=")
    remote = ("-h", "127.0.0.1")
    right = subprocess.run(["docker", "exec", "-e", password_line.replace("POSTGRES_", "PG", 1),
                            settings.postgres_container, "psql", *remote, "-U", "postgres", "-tAc", "SELECT 2"],
                           capture_output=True, text=True, check=False)
    assert (right.returncode, right.stdout.strip()) == (0, "2"), right.stderr
    wrong = subprocess.run(["docker", "exec", "-e", "PGPASSWORD=wrong", settings.postgres_container,
                            "psql", *remote, "-U", "postgres", "-tAc", "SELECT 2"],
                           capture_output=True, text=True, check=False)
    assert wrong.returncode != 0 and "password authentication failed" in wrong.stderr


def test_platform_status_task_reports_health(platform_stack):
    result = subprocess.run([sys.executable, "-m", "invoke", "platform.status"], cwd=REPO_ROOT,
                            env={**os.environ, **platform_stack.env}, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    for name in platform_services.containers(platform_stack.settings):
        assert f"{name}: running, healthy" in result.stdout


def test_up_is_idempotent(fresh_stack):
    settings, registry = fresh_stack.settings, fresh_stack.registry
    project = registry.projects[0].name
    networks = {f"{project}-production", f"{project}-staging"}

    first = platform_services.up(ENGINE, settings, registry)
    assert first.created_password and first.nginx_files == (f"{project}.test.conf",)
    assert set(first.created_networks) == networks
    assert set(first.connections) == {(c, n) for c in platform_services.containers(settings) for n in networks}
    password_file = platform_services.postgres_env_file(settings)
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    password, ids = password_file.read_text(), container_ids(settings)

    second = platform_services.up(ENGINE, settings, registry)
    assert (second.built_images, second.created_password, second.nginx_files) == (False, False, ())
    assert (second.created_networks, second.connections) == ((), ())
    assert container_ids(settings) == ids and password_file.read_text() == password
    for container in platform_services.containers(settings):
        assert networks <= networks_of(container)
    live.test_config(ENGINE, settings)


def test_down_keeps_the_data_volume(fresh_stack):
    settings, registry = fresh_stack.settings, fresh_stack.registry
    postgres = settings.postgres_container
    platform_services.up(ENGINE, settings, registry)
    assert psql(postgres, "CREATE TABLE kept (value text); INSERT INTO kept VALUES ('still here')").returncode == 0

    removed = platform_services.down(ENGINE, settings)
    assert set(removed) == set(platform_services.containers(settings))
    assert all(ENGINE.inspect(name) is None for name in removed)
    volume = subprocess.run(["docker", "volume", "inspect", fresh_stack.postgres_volume],
                            capture_output=True, check=False)
    assert volume.returncode == 0

    again = platform_services.up(ENGINE, settings, registry)
    assert not again.created_password and len(again.connections) == 4
    assert psql(postgres, "SELECT value FROM kept").stdout.strip() == "still here"
