"""What an operator sees while `./lib/deploy.sh` runs: on a terminal, the running step drawn live (its time,
what it waits for) and then its line; in a pipe, the same lines and nothing else."""

import os
import pty
import re
import select
import subprocess
import time

import pytest
from deploy_support import REPO, demo_images, projects  # noqa: F401  (fixtures)

pytestmark = pytest.mark.integration

ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
STEP_LINE = re.compile(r"^ ?\[\d+/10\] [a-z -]+\s+OK\s+\d+\.\d\ds", re.MULTILINE)


def on_a_terminal(project, *args: str, timeout: float = 180) -> tuple[int, str]:
    """Run ``lib/deploy.sh`` with a pseudo-terminal as its stdout and stderr; (exit code, what it wrote)."""
    main, terminal = pty.openpty()
    env = {**project.subprocess_env(), "TERM": "xterm-256color", "COLUMNS": "160"}
    env.pop("NO_COLOR", None)
    process = subprocess.Popen([str(REPO / "lib" / "deploy.sh"), project.name, "production", *args], cwd=REPO,
                               env=env, stdin=subprocess.DEVNULL, stdout=terminal, stderr=terminal)
    os.close(terminal)
    written, deadline = b"", time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(main, 65536)
            except OSError:   # the terminal's other side closed: the command is done
                break
            if not chunk:
                break
            written += chunk
        elif process.poll() is not None:
            break
    os.close(main)
    return process.wait(timeout=30), written.decode("utf-8", "replace")


def test_a_deploy_on_a_terminal_draws_its_running_steps_and_in_a_pipe_prints_only_lines(projects):  # noqa: F811
    project = projects()
    assert project.deploy("v1").ok
    code, shown = on_a_terminal(project, "--tag", "v2")
    assert code == 0, shown
    plain = ESCAPE.sub("", shown).replace("\r", "\n")
    # the live line of the health step or the migrations (what they wait for), redrawn with its time
    assert re.search(r"\[\d+/10\] (migrations|health)\s+…\s+\d+\.\ds", plain), plain
    assert "\x1b[2K" in shown   # lines redrawn in place
    assert len(STEP_LINE.findall(plain)) >= 10, plain
    piped = project.shim("production", "--tag", "v3")
    output, _ = piped.communicate(timeout=180)
    assert piped.returncode == 0, output
    assert "\x1b" not in output and "…" not in output, output
    assert re.search(r"^ \[4/10\] start candidates  OK ", output, re.MULTILINE), output
    assert len(STEP_LINE.findall(output)) == 10, output
