"""A project's containers as swarm services: their specs, and the commands run as jobs of them.

A role's live service carries the live name (``demo-backend-production``), which nginx
resolves per request; its candidate is a service of its own under the candidate's name,
which nothing routes to. Both are built from the same spec, so what was tested is what
goes live: the image pinned by digest (every node runs the same bytes), the env file's
values, the deploy's labels.
"""

import re
import time
from dataclasses import dataclass, replace

from ..engine import ContainerState, ServiceSpec
from ..errors import PlatformError

JOB_TIMEOUT = 600            # seconds a migration command may run
VOLUME_NODE = "node.labels.platform.db==true"   # where a role with volumes runs: its data and backups are there
JOB_MARK = "-job-"
JOB_LABEL = "platform.job"


def pinned(image, repository: str, tag: str) -> str:
    """``repository:tag@sha256:...`` of a pulled image (ImageInfo): the digest the registry gave, the tag for
    people (the swarm goes by the digest)."""
    for reference in image.digests:
        if reference.startswith(f"{repository}@"):
            return f"{repository}:{tag}@{reference.split('@', 1)[1]}"
    raise PlatformError(f"{repository} has no digest from its registry on this manager; every node pulls by "
                        "digest, so push the image to a registry the nodes reach")


def role_spec(plan, role, image: str, environment: dict, name: str) -> ServiceSpec:
    """The service of ``role`` under ``name`` (the live one's or the candidate's)."""
    constraints = role.placement + ((VOLUME_NODE,) if role.volumes else ())
    return ServiceSpec(name=name, image=image, networks=(plan.network,), environment=environment,
                       labels=plan.labels(role.role), replicas=role.replicas, constraints=constraints,
                       volumes=role.volumes, stop_grace_seconds=role.drain_timeout)


def spec_of(state) -> ServiceSpec:
    """The parts of a service a job of it needs (image, env, networks, labels), read back from the swarm."""
    template = state.spec["TaskTemplate"]
    container = template.get("ContainerSpec") or {}
    environment = dict(line.split("=", 1) for line in container.get("Env") or () if "=" in line)
    return ServiceSpec(name=state.name, image=container.get("Image", ""), environment=environment,
                       networks=tuple(network["Target"] for network in template.get("Networks") or ()),
                       labels=dict(state.labels))


@dataclass(frozen=True)
class JobState:
    """What migrate.py reads of the container it runs commands in; a job starts in the image's WORKDIR."""

    workdir: str = "."


class CandidateJobs:
    """migrate.py's engine on a swarm: each command runs once as a job of the candidate's spec (same image,
    env and network), wherever the swarm puts it. Names are the candidates' (``specs`` holds each)."""

    def __init__(self, engine, specs: dict[str, ServiceSpec]):
        self.engine = engine
        self.specs = specs

    def inspect(self, name: str) -> ContainerState | JobState | None:
        return JobState() if name in self.specs else None

    def file_exists(self, name: str, path: str) -> bool:
        return self.exec_run(name, ["test", "-f", path]).exit_code == 0

    def exec_run(self, name: str, argv: list[str], environment=None, output_expected: bool = False):
        spec = self.specs[name]
        job = replace(spec, name=_job_name(name), command=tuple(argv), replicas=1, constraints=(),
                      volumes=(), labels={**spec.labels, JOB_LABEL: "true"})
        return self.engine.run_job(job, JOB_TIMEOUT)


def _job_name(name: str) -> str:
    """A job's service name: the candidate's, marked, with a suffix of its own (63 characters at most)."""
    suffix = f"{JOB_MARK}{int(time.time() * 1000) % 10**8}"
    return re.sub(r"-+$", "", name[:63 - len(suffix)]) + suffix
