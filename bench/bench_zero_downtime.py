"""Zero failed requests: constant load through platform-nginx across many deploys and failures.

    .venv/bin/python bench/bench_zero_downtime.py [--deploys 10] [--rate 25] [--plot docs/images/zero-downtime.png]

Keep-alive and new-connection-per-request clients send GET /, GET /api/version
and POST /api/items at a constant rate each (latency counted from when a
request was due, so stalls are not hidden), while the benchmark runs
successful deploys, one failing deploy of each kind (health, smoke,
migration, pull) and, last, a restore of the newest backup. Prints requests served, failed (must be 0), latency
p50/p99 while deploys run against steady state and the slowest request, and draws
each request's latency over time with the deploys' steps marked (--plot).
"""

import argparse
import re
import subprocess
import time

from benchstack import bench_stack
from latencyplot import Deploy, StepTimes, draw
from loadgen import LoadProcess
from platform_deploy.deploy import restore as restoring
from platform_deploy.deploy import pipeline
from platform_deploy.errors import PlatformError

FAILING = {"health": "broken-health", "smoke": "broken-smoke", "migration": "broken-migration",
           "pull": "no-such-tag"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deploys", type=int, default=10)
    parser.add_argument("--rate", type=float, default=25.0, help="requests per second per client")
    parser.add_argument("--plot", default="docs/images/zero-downtime.png", help="where to draw the plot ('' for none)")
    args = parser.parse_args()
    plan = [("ok", "v2" if index % 2 == 0 else "v3") for index in range(args.deploys)]
    for position, (kind, tag) in enumerate(FAILING.items()):
        plan.insert(2 + position * 3, (kind, tag))
    plan.append(("restore", None))

    deploys: list[Deploy] = [Deploy("v1", time.monotonic())]
    with bench_stack() as stack:
        def deploy(tag):
            report = StepTimes(deploys)
            if tag is None:  # the newest backup: the state before the last deploy
                return restoring.restore(stack.engine, stack.settings, stack.registry, stack.project, "production",
                                         None, False, report)
            return pipeline.Deployment(stack.engine, stack.settings, stack.registry, stack.project, "production",
                                       pipeline.Options(tag=tag), report).run()

        deploy("v1")
        outcomes = []
        with LoadProcess(stack.http_port, stack.host, post_path="/api/items", rate_per_client=args.rate,
                         max_seconds=1800) as load:
            origin = time.monotonic()
            time.sleep(3)
            for kind, tag in plan:
                what = tag or "restore of the newest backup"
                deploys.append(Deploy(tag if kind == "ok" else (f"{tag} ({kind} fails)" if tag else "restore"),
                                      time.monotonic()))
                try:
                    deploy(tag)
                    outcomes.append(f"{what}: deployed")
                except PlatformError as error:
                    outcomes.append(f"{what}: failed ({kind}), rolled back" if kind in FAILING
                                    else f"{what}: FAILED: {error}")
                deploys[-1].ended = time.monotonic()
            time.sleep(3)
        result = load.result
        nginx_log = subprocess.run(["docker", "logs", stack.settings.nginx_container], capture_output=True,
                                   text=True).stdout
    del deploys[0]   # before the load
    windows = [(d.started, d.ended) for d in deploys]

    during = [(due, seconds) for due, seconds in result.latencies if any(a <= due < b for a, b in windows)]
    steady = [(due, seconds) for due, seconds in result.latencies if not any(a <= due < b for a, b in windows)]

    def percentile(samples, fraction):
        values = sorted(seconds for _, seconds in samples)
        return values[min(len(values) - 1, int(fraction * len(values)))] * 1000 if values else 0.0

    print("\n".join(outcomes))
    print(f"requests served: {result.ok}, failed: {result.failed} {dict(result.reasons) or ''}")
    print(f"versions seen: {dict(result.versions)}")
    print(f"latency during deploys: p50 {percentile(during, .5):.1f} ms, p99 {percentile(during, .99):.1f} ms "
          f"({len(during)} requests)")
    print(f"latency steady state:   p50 {percentile(steady, .5):.1f} ms, p99 {percentile(steady, .99):.1f} ms "
          f"({len(steady)} requests)")
    print(f"where the tail is (requests over 3 x the steady p99 = {3 * percentile(steady, .99):.0f} ms, by the step "
          "they came after):")
    for step, (over, count) in tail_by_step(during, deploys, 3 * percentile(steady, .99) / 1000).items():
        print(f"  {step:<17} {over:5} of {count}")
    wall_offset = time.time() - time.monotonic()
    for due, seconds in sorted(result.latencies, key=lambda sample: -sample[1])[:3]:
        print(f"slow request: {seconds * 1000:.0f} ms, {due - origin:.1f} s into the run{where(due, deploys)}")
        print(f"  nginx: {seen_by_nginx(nginx_log, due + wall_offset, seconds)}")
    if args.plot:
        draw(args.plot, result, deploys, origin)
        print(f"plot: {args.plot}")
    unexpected = [line for line in outcomes if ": FAILED: " in line]
    return 1 if result.failed or unexpected else 0


def seen_by_nginx(log: str, due: float, seconds: float) -> str:
    """The access-log lines of requests that ended when this one did and took most of its time: rt (whole
    request), uct (connecting upstream) and ut (upstream's answer) tell where the time went. None found: it
    went before nginx had the request (the client, the published port, the connection to nginx)."""
    found = []
    for line in log.splitlines():
        match = re.search(r'"(\w+ \S+) HTTP.*rt=([\d.]+) upstream=(\S+) uct=(\S+) ut=(\S+) t=([\d.]+)', line)
        if match and abs(float(match[6]) - (due + seconds)) < 0.5 and float(match[2]) >= seconds - 0.3:
            found.append(f"{match[1]} rt={match[2]} upstream={match[3]} uct={match[4]} ut={match[5]}")
    return "; ".join(found[:3]) or "no request that long ended then: the time went before nginx had it"


def tail_by_step(samples, deploys: list[Deploy], threshold: float) -> dict:
    """{step a request came after: (requests slower than ``threshold`` seconds, requests)}, in step order."""
    buckets: dict = {}
    for due, seconds in samples:
        step = where(due, deploys).rpartition("after ")[2] or "between deploys"
        over, count = buckets.get(step, (0, 0))
        buckets[step] = (over + (seconds > threshold), count + 1)
    return buckets


def where(moment: float, deploys: list[Deploy]) -> str:
    """During which deploy, and after which of its steps, ``moment`` fell."""
    for deploy in deploys:
        if deploy.started <= moment < deploy.ended:
            done = [name for ended, name in deploy.steps if ended <= moment]
            return f", during {deploy.label}, after {done[-1] if done else 'its start'}"
    return ", between deploys"


if __name__ == "__main__":
    raise SystemExit(main())
