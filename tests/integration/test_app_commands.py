"""invoke app.logs / app.exec and lib/app.sh as an operator runs them, on a deployed project's live containers."""

import signal
import threading

import pytest
from deploy_support import REPO, demo_images, module_projects, projects, run, wait_for  # noqa: F401

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def deployed(module_projects):  # noqa: F811 - the fixture
    project = module_projects()
    outcome = project.deploy("v1")
    assert outcome.ok, outcome.error
    return project


def target(project, *rest) -> tuple[str, ...]:
    return ("--project", project.name, "--env", "production", *rest)


def test_logs_of_every_role_each_line_prefixed_or_of_one_role_as_written(deployed):
    every = deployed.invoke("app.logs", *target(deployed, "--tail", "50"))
    assert every.returncode == 0, every.stderr
    lines = every.stdout.splitlines()
    assert "backend | demo-backend v1: listening on :3000" in lines
    assert lines and all(line.startswith(("backend | ", "frontend | ")) for line in lines)
    backend = deployed.invoke("app.logs", *target(deployed, "--role", "backend", "--since", "1h"))
    assert "demo-backend v1: listening on :3000" in backend.stdout.splitlines()
    assert "frontend | " not in backend.stdout
    nothing_yet = deployed.invoke("app.logs", *target(deployed, "--role", "backend", "--since", "2099-01-01T00:00"))
    assert nothing_yet.returncode == 0 and nothing_yet.stdout == ""


def test_following_shows_what_the_app_writes_until_interrupted(deployed):
    follow = deployed.invoke_process("app.logs", *target(deployed, "--role", "backend", "--follow", "--tail", "0"))
    seen = []
    threading.Thread(target=lambda: seen.extend(follow.stdout), daemon=True).start()   # ends with the process
    try:
        # Asked again until it shows: the command may not be following yet when the first one is logged.
        wait_for(lambda: deployed.request("/api/no-such-thing")[0] == 404
                 and any("/api/no-such-thing" in line for line in seen), timeout=20,
                 what="a request in the followed log")
    finally:
        follow.send_signal(signal.SIGINT)
        follow.wait(timeout=10)
    assert follow.returncode in (0, 130)


def test_exec_keeps_the_commands_quoting_and_exit_code(deployed):
    answered = deployed.invoke("app.exec", *target(deployed, "--role", "backend", "--", "sh", "-c",
                                                   "echo $((6 * 7)) 'a  b'"))
    assert (answered.returncode, answered.stdout) == (0, "42 a  b\n"), answered.stderr
    failed = deployed.invoke("app.exec", *target(deployed, "--", "sh", "-c", "exit 3"))
    assert failed.returncode == 3
    shim = run([str(REPO / "lib" / "app.sh"), "exec", deployed.name, "production", "--role", "frontend", "--",
                "cat", "/etc/hostname"], env=deployed.subprocess_env(), cwd=REPO)
    assert shim.returncode == 0 and shim.stdout.strip(), shim.stderr


@pytest.mark.parametrize("arguments, message", [
    (("app.logs", "--env", "staging"), "error: no running live container for {name}/staging; deploy it first"),
    (("app.logs", "--env", "production", "--role", "db"), "error: --role db: {name} has no such role"),
    (("app.logs", "--env", "production", "--since", "yesterday"), "error: --since 'yesterday': give a duration"),
    (("app.exec", "--env", "production"), "error: give the command after --"),
])
def test_mistakes_are_one_line_and_non_zero(deployed, arguments, message):
    task, *rest = arguments
    result = deployed.invoke(task, "--project", deployed.name, *rest)
    assert result.returncode != 0
    assert result.stderr.strip().startswith(message.format(name=deployed.name)), result.stderr
    assert "\n" not in result.stderr.strip() and "Traceback" not in result.stderr
