"""nginx generation speed and CLI start-up, measured side by side in one run.

    .venv/bin/python bench/bench_nginx.py [--projects 1000] [--runs 5]

Prints: generation of N projects (library and CLI, cold conf.d and unchanged
conf.d), and `invoke --list` / the generate-nginx-configs.py shim as a ratio
to `python3 -c pass`.
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from registry import synthetic_registry
from timing import median_seconds

REPO = Path(__file__).resolve().parents[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "config").mkdir()
        (root / "config" / "projects.yml").write_text(synthetic_registry(args.projects))
        one = root / "one"
        (one / "config").mkdir(parents=True)
        (one / "config" / "projects.yml").write_text(synthetic_registry(1))
        env = dict(os.environ, PLATFORM_ROOT=str(root), PLATFORM_CERTS_DIR=str(root / "certs"))
        env_one = dict(env, PLATFORM_ROOT=str(one))
        invoke = [str(REPO / ".venv" / "bin" / "invoke"), "--search-root", str(REPO)]

        generate = invoke + ["nginx.generate"]
        cold = []
        for _ in range(args.runs):
            shutil.rmtree(root / "platform", ignore_errors=True)
            cold.append(median_seconds(generate, env, 1))
        warm = median_seconds(generate, env, args.runs)
        baseline = median_seconds(["python3", "-c", "pass"], env, args.runs * 2)
        listing = median_seconds(invoke + ["--list"], env, args.runs * 2)
        shim = median_seconds(["python3", str(REPO / "lib" / "generate-nginx-configs.py"), "--dry-run",
                      "--project", "project-0000"], env_one, args.runs * 2)

    print(f"nginx.generate, {args.projects} projects, empty conf.d: {statistics.median(cold):.2f} s (target < 2 s)")
    print(f"nginx.generate, {args.projects} projects, nothing changed: {warm:.2f} s")
    print(f"python3 -c pass: {baseline * 1000:.0f} ms")
    print(f"invoke --list: {listing * 1000:.0f} ms, adds {(listing - baseline) * 1000:.0f} ms "
          f"({listing / baseline:.1f}x python3 -c pass; target: adds < 300 ms)")
    print(f"generate-nginx-configs.py --dry-run (1 project): {shim * 1000:.0f} ms, adds "
          f"{(shim - baseline) * 1000:.0f} ms ({shim / baseline:.1f}x; target: adds < 300 ms)")


if __name__ == "__main__":
    sys.exit(main())
