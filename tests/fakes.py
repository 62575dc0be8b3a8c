"""FakeEngine: the engine protocol in memory, for unit tests of the decisions above it.

It keeps containers, images, networks and volumes as plain data, records every
call in ``calls`` (method name and its first argument, in order) and in ``log``
(method name and all its arguments, same order), and lets a test make any call
fail: ``engine.fail_on("pull", Refused("..."))``, or run code at any call:
``engine.before("stop", hook)`` (a hook may raise, to stand for a kill at that
instant). ``engine.unavailable = EngineUnavailable(...)`` makes every call fail
with it (the engine gone) until it is set back to None. The commands the tool
runs through exec are simulated just far enough: curl from nginx (HTTP status
per URL), alembic (one database revision), psql, pg_dump and nginx.
"""

import io
import itertools
import tarfile
from dataclasses import dataclass, field

from platform_deploy.engine import ContainerState, ExecResult, ImageInfo, NotFound, Refused

ALEMBIC_INI = "/app/alembic.ini"


@dataclass
class FakeContainer:
    name: str
    id: str
    image: str
    image_id: str
    labels: dict
    environment: dict
    status: str = "running"
    health: str | None = "healthy"
    networks: dict = field(default_factory=dict)    # network -> (address, aliases)
    exit_code: int = 0
    health_command: tuple = ()
    cpu_shares: int | None = None

    def state(self) -> ContainerState:
        return ContainerState(name=self.name, id=self.id, status=self.status, health=self.health,
                              exit_code=self.exit_code, image_id=self.image_id, image_ref=self.image,
                              labels=dict(self.labels), workdir="/app",
                              networks={network: address for network, (address, _) in self.networks.items()},
                              health_command=self.health_command)


@dataclass
class FakeImage:
    id: str
    digest: str | None = None
    labels: dict = field(default_factory=dict)
    alembic_head: str | None = None     # the revision `alembic upgrade head` reaches; None: no alembic.ini
    health: str | None = "healthy"      # what containers of this image report once started
    status: str = "running"
    health_command: tuple = ()          # its HEALTHCHECK's argv


class FakeEngine:
    def __init__(self):
        self.containers: dict[str, FakeContainer] = {}
        self.images: dict[str, FakeImage] = {}        # reference (repo:tag or id) -> image
        self.registry: dict[str, FakeImage] = {}      # what `pull` finds, by repo:tag
        self.networks: dict[str, dict] = {}           # name -> labels
        self.specs: list = []                         # the ContainerSpec of every run, in order
        self.output: dict[str, bytes] = {}            # container name -> what it wrote (logs)
        self.volumes: set[str] = set()
        self.fed: dict[str, bytes] = {}               # volume or container -> the last archive or dump fed to it
        self.revision: str | None = None              # the database's alembic revision
        self.http: dict[str, int] = {}                # URL substring -> status answered by curl (default 200)
        self.failing_commands: dict[str, str] = {}    # command substring -> error output (exit 1)
        self.calls: list[tuple[str, str]] = []
        self.refusing: set[str] = set()               # containers a drain helper closed to new connections
        self.log: list[tuple[str, tuple]] = []        # (method, all its arguments), in step with ``calls``
        self.unavailable: BaseException | None = None  # set: every call raises it (after the hooks)
        self._failures: list[list] = []               # [method, error, when, times]
        self._hooks: dict[str, list] = {}
        self._ids = itertools.count(1)

    # -- test set-up ----------------------------------------------------------------------------

    def add_image(self, reference: str, published: bool = True, **details) -> FakeImage:
        image = FakeImage(id=f"sha256:{next(self._ids):064x}", **details)
        if published:
            self.registry[reference] = image
        else:
            self.images[reference] = image
        return image

    def add_container(self, name: str, image: str, network: str, labels: dict | None = None,
                      aliases: tuple = ()) -> FakeContainer:
        """A container already running before the test (a live version, platform-nginx)."""
        found = self.images.get(image) or self.registry.get(image) or self.add_image(image, published=False)
        self.images.setdefault(image, found)
        container = FakeContainer(name, f"c{next(self._ids)}", image, found.id, dict(labels or {}), {},
                                  health=found.health)
        self.containers[name] = container
        self.networks.setdefault(network, {})
        self._attach(container, network, list(aliases))
        return container

    def fail_on(self, method: str, error: BaseException, when=lambda *args: True, times: int = 1) -> None:
        """Make the next ``times`` calls of ``method`` whose arguments satisfy ``when`` raise ``error``."""
        self._failures.append([method, error, when, times])

    def before(self, method: str, hook) -> None:
        """Call ``hook(*args)`` before each call of ``method``."""
        self._hooks.setdefault(method, []).append(hook)

    def called(self, *methods: str) -> list[tuple[str, str]]:
        """The recorded calls of these methods, in order."""
        return [call for call in self.calls if call[0] in methods]

    def logged(self, *methods: str) -> list[tuple[str, tuple]]:
        """The recorded calls of these methods with all their arguments, in order."""
        return [call for call in self.log if call[0] in methods]

    def _call(self, method: str, *args) -> None:
        self.calls.append((method, str(args[0]) if args else ""))
        self.log.append((method, args))
        for hook in self._hooks.get(method, []):
            hook(*args)
        if self.unavailable is not None:
            raise self.unavailable
        for failure in self._failures:
            name, error, when, times = failure
            if name == method and times > 0 and when(*args):
                failure[3] -= 1
                raise error

    def _container(self, name: str) -> FakeContainer | None:
        return self.containers.get(name) or next((c for c in self.containers.values() if c.id == name), None)

    def _attach(self, container: FakeContainer, network: str, aliases: list) -> None:
        used = {address for c in self.containers.values() for address, _ in c.networks.values()}
        address = next(f"10.0.0.{n}" for n in itertools.count(2) if f"10.0.0.{n}" not in used)
        container.networks[network] = (address, aliases)

    # -- the protocol ---------------------------------------------------------------------------

    def data_root(self) -> str:
        self._call("data_root")
        return "/"

    def inspect(self, name):
        self._call("inspect", name)
        container = self._container(name)
        return container.state() if container else None

    def find(self, labels):
        self._call("find", labels)
        return [c.state() for c in self.containers.values() if labels.items() <= c.labels.items()]

    def run(self, spec):
        self._call("run", spec.name)
        self.specs.append(spec)
        image = self.images.get(spec.image)
        if image is None:
            raise NotFound(f"image {spec.image} is not on this machine; pull it first")
        if spec.name in self.containers:
            raise Refused(f"cannot start {spec.name}: the name is in use")
        container = FakeContainer(spec.name, f"c{next(self._ids)}", spec.image, image.id, dict(spec.labels),
                                  dict(spec.environment), status=image.status, health=image.health,
                                  health_command=image.health_command, cpu_shares=spec.cpu_shares)
        self.containers[spec.name] = container
        self._attach(container, spec.network, [])
        return container.state()

    def start(self, name):
        self._call("start", name)
        container = self._container(name)
        if container is not None:
            container.status = "running"

    def stop(self, name, timeout=10):
        self._call("stop", name, timeout)
        container = self._container(name)
        if container is not None and container.name.startswith(("hold-", "guard-")):
            del self.containers[container.name]   # a hold removes itself when it exits
        elif container is not None:
            container.status = "exited"

    def remove(self, name):
        self._call("remove", name)
        container = self._container(name)
        if container is not None:
            del self.containers[container.name]

    def set_cpu_shares(self, name, shares):
        self._call("set_cpu_shares", name, shares)
        container = self._container(name)
        if container is None:
            raise NotFound(f"container {name!r} does not exist")
        container.cpu_shares = shares

    def rename(self, name, new_name):
        self._call("rename", name, new_name)
        container = self.containers.pop(name, None)
        if container is None:
            raise NotFound(f"cannot rename {name} to {new_name}: the container is gone")
        container.name = new_name
        self.containers[new_name] = container

    def logs(self, name, follow=False, since=None, tail=None):
        """The lines in ``output[name]`` (bytes), in chunks that split lines where they fall."""
        self._call("logs", name, follow, since, tail)
        container = self._container(name)
        if container is None:
            raise NotFound(f"container {name!r} does not exist")
        written = self.output.get(container.name, b"")
        if tail is not None:
            written = b"".join(written.splitlines(keepends=True)[-tail:] if tail else [])
        return iter([written[index:index + 7] for index in range(0, len(written), 7)])

    def exec_attached(self, name, argv, tty):
        self._call("exec_attached", name, argv, tty)
        return 0

    def logs_tail(self, name, lines=5):
        self._call("logs_tail", name)
        container = self._container(name)
        if container is None:
            return ""
        if container.name.startswith(("hold-", "guard-")):
            return "held" if container.name.startswith("hold-") else "guarded"
        return "the last log line"

    def run_beside(self, name, image, argv, labels, capabilities=(), timeout=60):
        """A switch helper: "drain" closes the container to new connections (``refusing``), "reopen" opens it."""
        self._call("run_beside", name, argv)
        container = self._container(name)
        if container is None or container.status != "running":
            raise Refused(f"cannot run a helper beside {name}: it is not running")
        if argv[3] == "drain":
            self.refusing.add(container.name)
        else:
            self.refusing.discard(container.name)
        return ExecResult(0, "0")

    def start_beside(self, name, image, argv, labels, capabilities=()):
        """A hold beside nginx: runs (printing "held") until stopped, then removes itself; a guard ($0 "guard")
        the same, printing "guarded"."""
        self._call("start_beside", name, argv)
        hold = f"{'guard' if argv[3] == 'guard' else 'hold'}-{next(self._ids)}"
        self.containers[hold] = FakeContainer(hold, hold, image, image, dict(labels), {}, health=None)
        return hold

    def file_exists(self, name, path):
        self._call("file_exists", name)
        container = self._container(name)
        image = self.images.get(container.image) if container else None
        return path == ALEMBIC_INI and image is not None and image.alembic_head is not None

    def exec_run(self, name, argv, environment=None, output_expected=False):
        self._call("exec_run", name, argv)
        container = self._container(name)
        if container is None:
            raise NotFound(f"container {name!r} does not exist")
        if container.status != "running":
            raise Refused(f"{name}: cannot run {argv[0]}: container is not running")
        command = " ".join(argv)
        for fragment, output in self.failing_commands.items():
            if fragment in command:
                return ExecResult(1, output)
        return self._simulate(container, argv)

    def _http_status(self, url) -> int:
        """0: refused."""
        return next((code for fragment, code in self.http.items() if fragment in url), 200)

    def _simulate(self, container, argv) -> ExecResult:
        if argv[0] == "curl":   # probes.http_get_many: each URL's body, then its marker line and status
            marker = argv[argv.index("-w") + 1].split("%")[0]
            output = "".join(f"body{marker}{self._http_status(url):03d} {0 if self._http_status(url) else 7}\n"
                             for url in curl_urls(argv))
            return ExecResult(0 if self._http_status(curl_urls(argv)[-1]) else 7, output)
        if argv[:2] == ["alembic", "current"]:
            head = " (head)" if self.revision == self.images[container.image].alembic_head else ""
            revision = f"Rev: {self.revision}{head}\n" if self.revision else ""
            return ExecResult(0, f"Current revision(s) for postgresql://***@db/app:\n{revision}")
        if argv[:2] == ["alembic", "upgrade"]:
            self.revision = self.images[container.image].alembic_head
            return ExecResult(0, "")
        if argv[:2] == ["alembic", "downgrade"]:
            self.revision = None if argv[2] == "base" else argv[2]
            return ExecResult(0, "")
        if argv[0] == "psql":
            return ExecResult(0, "1")
        return ExecResult(0, "")   # nginx -t, nginx -s reload, the database set-up script

    def exec_to(self, name, argv, write, environment=None):
        self._call("exec_to", name, argv)
        write(b"PGDMP\x01\x0e\x00\x04\x08\x01 fake dump")   # a custom-format header, then nothing real
        return ExecResult(0, "")

    def exec_from(self, name, argv, chunks, environment=None):
        """A database restore (backup.database): keeps what it was fed in ``fed[name]`` and prints the
        marker its last argument names, as psql does after COMMIT."""
        self._call("exec_from", name, argv)
        self.fed[name] = b"".join(chunks)
        return ExecResult(0, f"{argv[-1]}\n")

    def pull(self, repository, tag):
        self._call("pull", f"{repository}:{tag}")
        image = self.registry.get(f"{repository}:{tag}")
        if image is None:
            raise Refused(f"cannot pull {repository}:{tag}: manifest unknown")
        self.images[f"{repository}:{tag}"] = image
        self.images[image.id] = image
        return image.id

    def image(self, reference):
        self._call("image", reference)
        image = self.images.get(reference) or next((i for i in self.images.values() if i.id == reference), None)
        if image is None:
            return None
        tags = tuple(sorted(name for name, found in self.images.items() if found is image and name != image.id))
        return ImageInfo(image.id, image.digest, dict(image.labels), tags=tags,
                         digests=(image.digest,) if image.digest else ())

    def tag(self, image_id, repository, tag):
        self._call("tag", f"{repository}:{tag}")
        image = next((i for i in self.images.values() if i.id == image_id), None)
        if image is None:
            raise NotFound(f"cannot tag {repository}:{tag}: no image {image_id}")
        self.images[f"{repository}:{tag}"] = image

    def untag(self, reference):
        self._call("untag", reference)
        self.images.pop(reference, None)

    def prune_dangling(self):
        self._call("prune_dangling")
        return 0

    def ensure_network(self, name, labels, subnet_pool=None):
        self._call("ensure_network", name)
        if name in self.networks:
            return False
        self.networks[name] = dict(labels)
        return True

    def network_subnets(self, name):
        self._call("network_subnets", name)
        return ["10.0.0.0/24"] if name in self.networks else []

    def connect(self, container, network, aliases=None):
        self._call("connect", container, network, list(aliases or []))
        found = self._container(container)
        if found is None:
            raise NotFound(f"container {container!r} does not exist")
        if network in found.networks:
            return False
        self._attach(found, network, list(aliases or []))
        return True

    def disconnect(self, container, network):
        self._call("disconnect", container, network)
        found = self._container(container)
        if found is not None:
            found.networks.pop(network, None)

    def aliases(self, container: str, network: str) -> list[str]:
        """Test helper: the aliases ``container`` holds on ``network``."""
        return self.containers[container].networks[network][1]

    def volume_exists(self, name):
        self._call("volume_exists", name)
        return name in self.volumes

    def archive_volume(self, volume, image, labels, write):
        self._call("archive_volume", volume)
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            info = tarfile.TarInfo("platform-volume")
            info.type = tarfile.DIRTYPE
            archive.addfile(info)
        write(buffer.getvalue())

    def replace_volume_contents(self, volume, image, labels, chunks):
        self._call("replace_volume_contents", volume)
        self.fed[volume] = b"".join(chunks)

    def compose(self, compose_file, project, arguments, environment):
        self._call("compose", " ".join(arguments))
        return ""

    def build_images(self, script):
        self._call("build_images", script)


def names(calls) -> list[str]:
    """The first arguments of recorded calls, e.g. the containers stopped."""
    return [argument for _, argument in calls]


def curl_urls(argv) -> list[str]:
    """The URLs of a curl command line as probes.http_get_many writes it (each after ``-o -``)."""
    return [argv[index + 2] for index, arg in enumerate(argv[:-2]) if arg == "-o" and argv[index + 1] == "-"]
