#!/usr/bin/env python3
"""Backup and restore of a named volume: throughput against plain `tar`, and the tool's peak memory.

For each size (default 256 MiB and 1 GiB) a fresh volume is filled with random data
(`head -c` from /dev/urandom in a throw-away container of platform-base:bookworm), then:
  backup   the tool's code path (engine.docker.DockerEngine.archive_volume through Docker's archive API
           into backup.payload.PayloadWriter: SHA-256 while writing, fsync at the end), in a
           child process whose peak RSS is reported;
  restore  the tool's code path (backup.payload checks: checksum and archive headers, then
           DockerEngine.replace_volume_contents: empty the volume, stream the archive in);
  api      the ceiling the Docker archive API sets: the same archive read and thrown away;
  tar      the same data with plain GNU tar on the host: `tar -cf` from the volume's directory
           (and `tar -cf` + `sync FILE`, since the tool's backup is fsynced), `tar -xf` into an
           empty directory for the restore.
Each measurement is repeated (--runs, default 2) and the best time kept. Everything made
(volumes, files) is removed afterwards. Needs root (reads /var/lib/docker/volumes) and Docker.

    .venv/bin/python bench/bench_backup.py [--sizes-mib 256,1024] [--runs 2] [--dir /var/tmp]
"""

import argparse
import json
import os
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lib"))

from platform_deploy.backup import payload  # noqa: E402
from platform_deploy.engine.docker import DockerEngine  # noqa: E402

IMAGE = "platform-base:bookworm"
LABELS = {"platform-deploy.bench": "backup"}
MIB = 1024 * 1024
ENGINE = DockerEngine()


def child(mode: str, volume: str, path: str) -> None:
    """One measured operation in this (fresh) process; prints seconds, bytes and peak RSS as JSON."""
    started = time.monotonic()
    if mode == "api":
        size, checksum = 0, ""

        def discard(chunk):
            nonlocal size
            size += len(chunk)

        ENGINE.archive_volume(volume, IMAGE, LABELS, discard)
    elif mode == "backup":
        Path(path).mkdir(mode=0o700)
        writer = payload.PayloadWriter(Path(path))
        with writer.open("volume.tar") as write:
            ENGINE.archive_volume(volume, IMAGE, LABELS, write)
        writer.sync_dirs()
        size, checksum = writer.files["volume.tar"]["bytes"], writer.files["volume.tar"]["sha256"]
    else:
        archive = Path(path)
        expected = json.loads(archive.with_suffix(".json").read_text())
        problem = payload.check_file(archive, expected) or payload.check_volume_archive(archive)
        if problem:
            raise SystemExit(f"archive check failed: {problem}")
        ENGINE.replace_volume_contents(volume, IMAGE, LABELS, payload.read_chunks(archive))
        size, checksum = archive.stat().st_size, expected["sha256"]
    seconds = time.monotonic() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "bytes": size, "sha256": checksum, "peak_rss_mib": peak_kib / 1024}))


def run_child(mode: str, volume: str, path: Path) -> dict:
    result = subprocess.run([sys.executable, __file__, "--child", mode, volume, str(path)], capture_output=True,
                            text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{mode} failed: {result.stderr.strip()}")
    return json.loads(result.stdout)


def sh(*argv, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kwargs)


def timed(*argv) -> float:
    started = time.monotonic()
    sh(*argv)
    return time.monotonic() - started


def drop_file(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def measure(size_mib: int, runs: int, work: Path) -> dict:
    volume = f"bench-backup-{secrets.token_hex(4)}"
    sh("docker", "volume", "create", "--label", "platform-deploy.bench=backup", volume)
    try:
        sh("docker", "run", "--rm", "--network", "none", "--label", "platform-deploy.bench=backup", "-v",
           f"{volume}:/v", "--entrypoint", "sh", IMAGE, "-c",
           f"head -c {size_mib * MIB} /dev/urandom > /v/random.bin && sync")
        data_dir = sh("docker", "volume", "inspect", "--format", "{{.Mountpoint}}", volume).stdout.strip()
        best = {}

        def keep(name, value):
            best[name] = min(best.get(name, value), value)

        for _ in range(runs):
            plain = work / "plain.tar"
            keep("tar", timed("tar", "-C", data_dir, "-cf", str(plain), "."))
            drop_file(plain)
            keep("tar_fsync", timed("sh", "-c", f"tar -C {data_dir} -cf {plain} . && sync {plain}"))
            untar = work / "untar"
            untar.mkdir()
            keep("untar", timed("tar", "-C", str(untar), "-xf", str(plain)))
            drop_file(untar)
            drop_file(plain)

            keep("api", run_child("api", volume, work / "unused")["seconds"])
            out = work / "tool"
            backup = run_child("backup", volume, out)
            keep("backup", backup["seconds"])
            best["backup_rss"] = max(best.get("backup_rss", 0), backup["peak_rss_mib"])
            best["archive_bytes"] = backup["bytes"]
            archive = out / "volume.tar"
            archive.with_suffix(".json").write_text(json.dumps({"bytes": backup["bytes"],
                                                                "sha256": backup["sha256"]}))
            restore = run_child("restore", volume, archive)
            keep("restore", restore["seconds"])
            best["restore_rss"] = max(best.get("restore_rss", 0), restore["peak_rss_mib"])
            drop_file(out)
        restored = sh("docker", "run", "--rm", "--network", "none", "-v", f"{volume}:/v", "--entrypoint", "sh",
                      IMAGE, "-c", "stat -c %s /v/random.bin").stdout.strip()
        best["restored_ok"] = restored == str(size_mib * MIB)
        return best
    finally:
        subprocess.run(["docker", "volume", "rm", "-f", volume], capture_output=True, check=False)


def main() -> int:
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], sys.argv[4])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes-mib", default="256,1024")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--dir", default=None, help="where archives are written (default: a temp dir)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-backup-", dir=args.dir))
    results = {}
    try:
        for size in (int(s) for s in args.sizes_mib.split(",")):
            results[size] = measure(size, args.runs, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"volume backup/restore, best of {args.runs} run(s); throughput in MiB/s of volume data")
    print(f"{'size':>8} {'backup':>8} {'tar':>8} {'tar+fsync':>9} {'API':>6} {'ratio':>6} {'ratio*':>6} "
          f"{'of API':>6} {'restore':>8} {'untar':>8} {'ratio':>6} {'RSS backup':>11} {'RSS restore':>12}")
    for size, r in results.items():
        rate = lambda seconds: size / seconds  # noqa: E731
        print(f"{size:>5}MiB {rate(r['backup']):>8.0f} {rate(r['tar']):>8.0f} {rate(r['tar_fsync']):>9.0f} "
              f"{rate(r['api']):>6.0f} {r['tar'] / r['backup']:>6.2f} {r['tar_fsync'] / r['backup']:>6.2f} "
              f"{r['api'] / r['backup']:>6.2f} "
              f"{rate(r['restore']):>8.0f} {rate(r['untar']):>8.0f} {r['untar'] / r['restore']:>6.2f} "
              f"{r['backup_rss']:>8.1f}MiB {r['restore_rss']:>9.1f}MiB"
              f"{'' if r['restored_ok'] else '  RESTORE WRONG SIZE'}")
    print("ratio = tool throughput / plain tar (1.0 = as fast); ratio* = against tar + fsync of the archive;")
    print("API = the Docker archive API alone (read and discarded); 'of API' = tool throughput / that ceiling")
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    sizes = sorted(results)
    if len(sizes) > 1:
        small, large = results[sizes[0]], results[sizes[-1]]
        backup_growth = large["backup_rss"] - small["backup_rss"]
        restore_growth = large["restore_rss"] - small["restore_rss"]
        print(f"peak RSS growth {sizes[0]} MiB -> {sizes[-1]} MiB: backup {backup_growth:+.1f} MiB, "
              f"restore {restore_growth:+.1f} MiB")
    return 0 if all(r["restored_ok"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
