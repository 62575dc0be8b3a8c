"""nginx's files on a swarm's edge nodes (swarm/edge.py): the bundle, and what a refusal leaves. The jobs
themselves run on the lab (tests/integration/test_swarm_deploy.py)."""

import gzip
import io
import tarfile

import pytest

from platform_deploy.config.validate import validate
from platform_deploy.engine import ExecResult
from platform_deploy.errors import PlatformError
from platform_deploy.settings import Settings
from platform_deploy.swarm import edge


@pytest.fixture
def settings(tmp_path):
    nginx = tmp_path / "platform" / "nginx"
    (nginx / "snippets").mkdir(parents=True)
    (nginx / "conf.d").mkdir()
    (nginx / "nginx.conf").write_text("events {}\n")
    (nginx / "snippets" / "proxy.conf").write_text("proxy_pass http://$upstream;\n")
    (nginx / "conf.d" / "old.example.conf").write_text("# old\n")
    return Settings(root=tmp_path, certs_dir=tmp_path / "letsencrypt", engine="swarm")


def members(data: bytes) -> dict:
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(data))) as tar:
        return {member.name: (tar.extractfile(member).read() if member.isfile() else None) for member in tar}


def test_the_bundle_holds_nginx_conf_snippets_and_conf_d_and_is_the_same_bytes_for_the_same_files(settings):
    data = edge.bundle(settings)
    assert members(data) == {"nginx.conf": b"events {}\n", "snippets": None,
                             "snippets/proxy.conf": b"proxy_pass http://$upstream;\n", "conf.d": None,
                             "conf.d/old.example.conf": b"# old\n"}
    (settings.conf_dir / "old.example.conf").touch()   # a new mtime, the same content
    assert edge.bundle(settings) == data


class Edges:
    """A swarm whose edge nodes answer the check job with ``check`` (exit code, output)."""

    def __init__(self, check=(0, "")):
        self.check, self.jobs, self.configs = check, [], set()

    def create_config(self, name, data, labels):
        self.configs.add(name)

    def remove_config(self, name):
        self.configs.discard(name)

    def run_job(self, spec, timeout):
        self.jobs.append(spec)
        return ExecResult(*self.check) if "-check-" in spec.name else ExecResult(0, "")


REGISTRY = validate({"projects": {"shop": {"domains": {"production": "shop.example"},
                                           "containers": {"backend": {"name": "shop-api", "port": 3000}}}}})


def test_new_files_are_checked_on_every_edge_node_then_applied_there_and_the_config_removed(settings):
    swarm = Edges()
    planned = edge.generate_and_reload(swarm, settings, REGISTRY, image="nginx@sha256:1")
    assert planned.write == ("shop.example.conf",)
    check, apply = swarm.jobs
    assert "-check-" in check.name and "-apply-" in apply.name
    assert check.global_mode and check.constraints == (edge.EDGE_CONSTRAINT,) and check.image == "nginx@sha256:1"
    assert check.volumes == () and apply.volumes == ((edge.FILES_VOLUME, edge.FILES_DIR),)
    assert check.environment["VERSION"] == apply.environment["VERSION"]
    assert swarm.configs == set()


def test_a_refusal_on_an_edge_node_applies_nothing_and_puts_the_old_files_back(settings):
    swarm = Edges(check=(1, "swarmlab-2: nginx: [emerg] unknown directive"))
    with pytest.raises(PlatformError, match=r"^nginx on an edge node rejected the configuration: swarmlab-2: "
                                            r"nginx: \[emerg\] unknown directive; previous files restored"):
        edge.generate_and_reload(swarm, settings, REGISTRY, image="nginx@sha256:1")
    assert [job.name.split("-")[3] for job in swarm.jobs] == ["check"]
    assert not (settings.conf_dir / "shop.example.conf").exists()
    assert swarm.configs == set()


def test_files_too_big_for_a_swarm_config_are_refused_in_one_line(settings):
    with pytest.raises(PlatformError, match=r"^nginx's files make 600 KB compressed, over a swarm config's 500 KB$"):
        edge.deliver(Edges(), settings, "nginx", b"x" * 600 * 1024)
