"""Restore of a project with an 8 MiB volume, whole: what `invoke backup.restore` does, timed.

    .venv/bin/python bench/bench_restore.py [--restores 5] [--mib 8]

The demo project with a volume on its backend holding MiB of random data: v2 is
deployed, the data written, v3 deployed (its backup holds v2 and the data; both
need the same database schema); then the newest backup is restored again and again
(each restore saves the state before it as a new backup, which the next one
restores). Each restore: verify the backup (every checksum and image), under the
lock save the current state (image tags, the volume, the database), write the
backup's volume and env files, then a blue/green deploy of its images. Prints the
median of the whole (in this process: add about 0.5 s of Python start-up for the CLI),
the part outside the reported deploy, and each step's median.
"""

import argparse
import statistics
import subprocess
import time

from benchstack import Quiet, bench_stack
from platform_deploy.deploy import pipeline
from platform_deploy.deploy import restore as restoring


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--restores", type=int, default=5)
    parser.add_argument("--mib", type=int, default=8)
    args = parser.parse_args()
    with bench_stack(with_volume=True) as stack:
        def deploy(tag):
            pipeline.Deployment(stack.engine, stack.settings, stack.registry, stack.project, "production",
                                pipeline.Options(tag=tag), Quiet()).run()

        deploy("v2")
        subprocess.run(["docker", "run", "--rm", "-v", f"{stack.volume}:/data", "platform-base:bookworm", "sh", "-c",
                        f"head -c {args.mib}M /dev/urandom > /data/blob"], check=True)
        deploy("v3")
        wholes, before_deploy, runs = [], [], []
        for _ in range(args.restores):
            started = time.monotonic()
            attempt = restoring.restore(stack.engine, stack.settings, stack.registry, stack.project, "production",
                                        None, False, Quiet())
            wholes.append(time.monotonic() - started)
            before_deploy.append(wholes[-1] - attempt.duration_seconds)
            runs.append(attempt.to_json())
    print(f"restores measured: {len(runs)} (demo project, backend volume with {args.mib} MiB)")
    for name in [step["name"] for step in runs[0]["steps"]]:
        seconds = statistics.median(next(s["seconds"] for s in run["steps"] if s["name"] == name) for run in runs)
        print(f"  {name:<17} {seconds:6.2f} s")
    print(f"reported, pre-flight to manifest (median): {statistics.median(r['duration_seconds'] for r in runs):.2f} s")
    print(f"outside it: verification before, retiring the old containers after (median): "
          f"{statistics.median(before_deploy):.2f} s")
    print(f"whole restore, until the command returns (median): {statistics.median(wholes):.2f} s")


if __name__ == "__main__":
    main()
