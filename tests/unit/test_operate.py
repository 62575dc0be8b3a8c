"""operate: which containers app.logs and app.exec act on, and how their options and output are read."""

import io

import pytest
from deploy_world import BACKEND, ENV, FRONTEND, PROJECT

from platform_deploy import operate
from platform_deploy.errors import PlatformError

NOW = 1_800_000_000


@pytest.mark.parametrize("text, seconds_back", [("90s", 90), ("10m", 600), ("2h", 7200), ("1d", 86400),
                                                ("1h30m", 5400)])
def test_since_takes_a_duration_back_from_now(text, seconds_back):
    assert operate.since_seconds(text, now=NOW) == NOW - seconds_back


def test_since_takes_a_time():
    assert operate.since_seconds("2026-12-01T14:30:00+00:00") == 1796135400


@pytest.mark.parametrize("text", ["yesterday", "10", "-5m", "10 m", "1w"])
def test_a_since_that_is_neither_is_one_line_naming_it(text):
    with pytest.raises(PlatformError, match=r"^--since '.*': give a duration such as 10m"):
        operate.since_seconds(text)


def test_tail_is_a_line_count_or_all():
    assert operate.tail_lines("20") == 20 and operate.tail_lines("all") is None and operate.tail_lines(None) is None
    with pytest.raises(PlatformError, match=r"^--tail '-3': give a number of lines, or all$"):
        operate.tail_lines("-3")


def test_the_live_containers_are_found_by_labels_and_live_name(live):
    assert operate.live_containers(live.engine, live.registry, PROJECT, ENV) == [("backend", BACKEND),
                                                                               ("frontend", FRONTEND)]
    assert operate.live_containers(live.engine, live.registry, PROJECT, ENV, "frontend") == [("frontend", FRONTEND)]


def test_a_container_that_only_has_the_live_name_is_not_picked(live):
    """Another tenant's container named like ours (without our labels) is never one of ours."""
    live.engine.containers[BACKEND].labels = {"platform.project": "other", "platform.environment": ENV,
                                              "platform.role": "backend"}
    assert operate.live_containers(live.engine, live.registry, PROJECT, ENV) == [("frontend", FRONTEND)]


def test_unknown_role_and_nothing_running_are_one_line_errors(live):
    with pytest.raises(PlatformError, match=r"^--role db: shop has no such role \(its roles: backend, frontend\)$"):
        operate.live_containers(live.engine, live.registry, PROJECT, ENV, "db")
    for name in (BACKEND, FRONTEND):
        live.engine.stop(name)
    with pytest.raises(PlatformError, match=r"^no running live container for shop/production; deploy it first"):
        operate.live_containers(live.engine, live.registry, PROJECT, ENV)


class Out(io.BytesIO):
    def __init__(self, terminal: bool):
        super().__init__()
        self.terminal = terminal

    def isatty(self):
        return self.terminal


def test_several_containers_logs_are_prefixed_with_their_role_line_by_line(live):
    live.engine.output = {BACKEND: b"started\nGET / 200\nno newline at the end", FRONTEND: b"ready\n"}
    out = Out(terminal=False)
    operate.show_logs(live.engine, [("backend", BACKEND), ("frontend", FRONTEND)], False, None, None, out)
    assert out.getvalue() == (b"backend | started\nbackend | GET / 200\nbackend | no newline at the end\n"
                              b"frontend | ready\n")


def test_one_containers_logs_go_as_written_into_a_pipe_and_printable_onto_a_terminal(live):
    live.engine.output = {BACKEND: b"\x1b[2J\x1b]0;owned\x07red \x1b[31mtext\x1b[0m\r\n"}
    piped, terminal = Out(terminal=False), Out(terminal=True)
    for out in (piped, terminal):
        operate.show_logs(live.engine, [("backend", BACKEND)], False, None, 2, out)
    assert piped.getvalue() == live.engine.output[BACKEND]
    assert terminal.getvalue() == b"red text\n"
    assert live.engine.logged("logs")[-1][1] == (BACKEND, False, None, 2)
