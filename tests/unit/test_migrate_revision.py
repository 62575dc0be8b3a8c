"""Reading the database's Alembic revision: a lost stdout must never read as "base"."""

import pytest

from platform_deploy.deploy import migrate
from platform_deploy.deploy.probes import CheckFailed

INFO = ("INFO  [alembic.runtime.migration] Context impl PostgresqlImpl.\n"
        "INFO  [alembic.runtime.migration] Will assume transactional DDL.\n")
HEADER = "Current revision(s) for postgresql://demo:XXXXX@postgres-platform:5432/demo_production:\n"
AT_0002 = HEADER + """Rev: 0002 (head)
Parent: 0001
Path: /app/migrations/versions/0002_add_note.py

    Rev: not a revision line: docstrings are indented.

    Revision ID: 0002
    Revises: 0001
"""
TWO_HEADS = HEADER + "Rev: 1a2b (head)\nParent: 0001\n\nRev: 3c4d (head)\nParent: 0001\n"


class Answers:
    """An engine whose exec answers the given (exit code, output) pairs in turn."""

    def __init__(self):
        self.given, self.calls = [], []

    def exec_run(self, name, argv, output_expected=False):
        self.calls.append(argv)
        return self.given.pop(0)


ENGINE = Answers()


@pytest.fixture
def answers():
    ENGINE.given.clear()
    ENGINE.calls.clear()

    def answer(*replies):
        ENGINE.given.extend(replies)
        return ENGINE.calls

    return answer


def test_revision_is_read_from_the_rev_lines(answers):
    answers((0, INFO + AT_0002))
    assert migrate.current_revision(ENGINE, "c") == "0002"


def test_header_alone_means_base(answers):
    answers((0, INFO + HEADER))
    assert migrate.current_revision(ENGINE, "c") is None


def test_several_heads_are_all_kept(answers):
    answers((0, TWO_HEADS))
    assert migrate.current_revision(ENGINE, "c") == "1a2b,3c4d"


def test_output_without_the_header_is_asked_again(answers):
    calls = answers((0, INFO), (0, INFO + AT_0002))
    assert migrate.current_revision(ENGINE, "c") == "0002"
    assert len(calls) == 2 and calls[0] == ["alembic", "current", "--verbose"]


def test_never_a_header_is_an_error_not_base(answers):
    answers(*[(0, INFO)] * migrate.READ_ATTEMPTS)
    with pytest.raises(CheckFailed, match="cannot tell the database's revision"):
        migrate.current_revision(ENGINE, "c")


def test_a_failing_command_is_an_error(answers):
    answers((1, INFO + "FAILED: Can't locate revision identified by '0009'\n"))
    with pytest.raises(CheckFailed, match="`alembic current` failed: .*Can't locate revision"):
        migrate.current_revision(ENGINE, "c")


@pytest.mark.parametrize("output, expected", [(AT_0002, ("0002", True)), (TWO_HEADS, ("1a2b,3c4d", False)),
                                              (HEADER + "Rev: 0001\nParent: <base>\n", ("0001", False)),
                                              (HEADER, (None, False))])
def test_only_one_head_revision_counts_as_at_head(answers, output, expected):
    answers((0, INFO + output))
    assert migrate._current(ENGINE, "c") == expected
