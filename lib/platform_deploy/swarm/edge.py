"""nginx's files on every edge node of a swarm: delivered, tested there, then reloaded without a failed request.

Each platform-nginx task reads nginx.conf, snippets/ and conf.d/ from a volume of its own
node (FILES_VOLUME, linked into /etc/nginx by START_SCRIPT). Only a manager's API reaches
a swarm, so the files travel as a swarm config (a tar.gz, named after its content) into
global jobs on the edge nodes:

1. check: every edge node unpacks the bundle into the job's own /etc/nginx and runs
   ``nginx -t`` there, with its own certificates; one refusal and no node changes.
2. apply: every edge node swaps the files in its volume and then writes the bundle's
   version; the watcher in its nginx task sees it within a second, tests again, reloads
   gracefully (workers finish their requests) and writes ``<version> ok`` back, which the
   job waits for. A node where nginx does not run is not waited for: it starts on these files.
"""

import gzip
import hashlib
import io
import tarfile

from ..engine import ServiceSpec
from ..errors import PlatformError
from ..nginx import files
from ..textutil import one_line

FILES_VOLUME = "platform-nginx-files"
FILES_DIR = "/etc/nginx/platform"
BUNDLE_PATH = "/platform-nginx-files.tgz"
EDGE_CONSTRAINT = "node.labels.platform.edge==true"
JOB_TIMEOUT = 120
CONFIG_LIMIT = 500 * 1024     # Docker's limit for a swarm config
PARTS = ("nginx.conf", "snippets", "conf.d")

# platform-nginx's command on a swarm: wait for the first files, link them where nginx looks, reload on each new
# version (after `nginx -t`), then become nginx itself (PID 1, so SIGQUIT stops it gracefully).
START_SCRIPT = f"""
dir={FILES_DIR}
until [ -s $dir/version ]; do sleep 1; done
for part in {' '.join(PARTS)}; do rm -rf /etc/nginx/$part; ln -s $dir/$part /etc/nginx/$part; done
(
  applied=$(cat $dir/version)
  echo "$applied ok" > $dir/applied
  while sleep 1; do
    date +%s > $dir/alive
    version=$(cat $dir/version 2>/dev/null)
    [ -n "$version" ] && [ "$version" != "$applied" ] || continue
    if problem=$(nginx -t -q 2>&1) && problem=$(nginx -s reload 2>&1); then
      echo "$version ok" > $dir/applied
    else
      echo "$version failed: $(echo $problem | head -c 300)" > $dir/applied
    fi
    applied=$version
  done
) &
exec nginx -g 'daemon off;'
"""

CHECK_SCRIPT = f"""
set -e
tar -xzf {BUNDLE_PATH} -C /etc/nginx
if ! problem=$(nginx -t -q 2>&1); then echo "$NODE: $problem" >&2; exit 1; fi
"""

APPLY_SCRIPT = f"""
set -e
dir={FILES_DIR}
rm -rf $dir/.new && mkdir -p $dir/.new
tar -xzf {BUNDLE_PATH} -C $dir/.new
for part in {' '.join(PARTS)}; do
  rm -rf $dir/.old-$part
  if [ -e $dir/$part ]; then mv $dir/$part $dir/.old-$part; fi
  mv $dir/.new/$part $dir/$part
done
# Wait for this node's nginx only if it runs: its watcher writes the time every second.
alive=$(cat $dir/alive 2>/dev/null || echo 0)
if [ $(( $(date +%s) - alive )) -lt 5 ]; then waiting=yes; else waiting=; fi
echo "$VERSION" > $dir/version.new && mv $dir/version.new $dir/version
[ -n "$waiting" ] || exit 0
for attempt in $(seq 1 60); do
  case "$(cat $dir/applied)" in
    "$VERSION ok") exit 0 ;;
    "$VERSION failed"*) echo "$NODE: $(cat $dir/applied)" >&2; exit 1 ;;
  esac
  sleep 0.5
done
echo "$NODE: nginx did not take version $VERSION within 30 s" >&2
exit 1
"""


def bundle(settings) -> bytes:
    """nginx.conf, snippets/ and conf.d/ of the platform root as a tar.gz: the same bytes for the same files."""
    nginx_dir = settings.root / "platform" / "nginx"
    sources = (("nginx.conf", nginx_dir / "nginx.conf"), ("snippets", nginx_dir / "snippets"),
               ("conf.d", settings.conf_dir))
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, root in sources:
            for path in [root, *sorted(root.rglob("*"))] if root.is_dir() else [root]:
                info = tar.gettarinfo(str(path), name if path == root else f"{name}/{path.relative_to(root)}")
                info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "root", "root"
                if path.is_file():
                    with open(path, "rb") as content:
                        tar.addfile(info, content)
                else:
                    tar.addfile(info)
    return gzip.compress(raw.getvalue(), mtime=0)


def deliver(engine, settings, image: str, data: bytes) -> str:
    """Check ``data`` on every edge node, then apply it there; the version delivered."""
    if len(data) > CONFIG_LIMIT:
        raise PlatformError(f"nginx's files make {len(data) // 1024} KB compressed, over a swarm config's "
                            f"{CONFIG_LIMIT // 1024} KB")
    version = hashlib.sha256(data).hexdigest()[:16]
    config = f"{FILES_VOLUME}-{version}"
    engine.create_config(config, data, {"platform.service": "nginx-files"})
    try:
        _run(engine, settings, image, config, version, "check", CHECK_SCRIPT)
        _run(engine, settings, image, config, version, "apply", APPLY_SCRIPT)
    finally:
        engine.remove_config(config)
    return version


def _run(engine, settings, image: str, config: str, version: str, phase: str, script: str) -> None:
    job = ServiceSpec(name=f"{FILES_VOLUME}-{phase}-{version}", image=image, global_mode=True,
                      constraints=(EDGE_CONSTRAINT,), command=("sh", "-c", script),
                      environment={"VERSION": version, "NODE": "{{.Node.Hostname}}"},
                      labels={"platform.service": "nginx-files"}, configs=((config, BUNDLE_PATH),),
                      volumes=((FILES_VOLUME, FILES_DIR),) if phase == "apply" else (),
                      binds=((str(settings.certs_dir), "/etc/letsencrypt"),))
    code, output = engine.run_job(job, JOB_TIMEOUT)
    if code != 0:
        reason = one_line(output, 400) or f"exit code {code}"
        verb = "rejected the configuration" if phase == "check" else "did not take the new configuration"
        raise PlatformError(f"nginx on an edge node {verb}: {reason}")


def generate_and_reload(engine, settings, registry, only=None, image: str | None = None) -> files.Plan:
    """Write the generated files, deliver them to every edge node (tested there first); on a refusal put the
    old files back here, and no edge node changed. ``image``: nginx's, before its service exists."""
    planned = files.plan(settings, registry, only)
    saved = files.snapshot(settings, planned.write + planned.remove)
    files.apply(settings, planned)
    try:
        deliver(engine, settings, image or nginx_image(engine, settings), bundle(settings))
    except PlatformError as error:
        files.restore(settings, saved)
        raise PlatformError(f"{error}; previous files restored, running config untouched") from None
    return planned


def nginx_image(engine, settings) -> str:
    """The image platform-nginx runs (pinned by digest): the jobs test with the same nginx."""
    state = engine.service(settings.nginx_container)
    if state is None:
        raise PlatformError(f"service {settings.nginx_container} is not on this swarm; run `invoke platform.up`")
    return state.image
