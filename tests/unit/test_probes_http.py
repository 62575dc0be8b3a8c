"""probes.http_get_many: several GETs in one curl run, each answer told apart by a random marker."""

from fakes import curl_urls

from platform_deploy.deploy import probes
from platform_deploy.engine import ExecResult


class Settings:
    nginx_container = "platform-nginx"


class Curl:
    """Answers as curl does: each URL's body (or error), then the -w line with its status and exit code."""

    def __init__(self, answers: dict):
        self.answers = answers   # url -> (body, http_code, exit code)

    def exec_run(self, name, argv, environment=None, output_expected=False):
        write_out = argv[argv.index("-w") + 1]
        output, code = "", 0
        for url in curl_urls(argv):
            body, status, code = self.answers[url]
            output += body + write_out.replace("%{http_code}", f"{status:03d}").replace("%{exitcode}", str(code))
        return ExecResult(code, output)


def test_each_url_gets_its_own_status_and_body_in_order():
    engine = Curl({"http://a/health": ("ok", 200, 0), "http://a/missing": ('{"error": "nope"}\n', 404, 0),
                   "http://a/down": ("curl: (7) Failed to connect", 0, 7), "http://a/": ("<html>", 200, 0)})
    responses = probes.http_get_many(engine, Settings, list(engine.answers))
    assert responses == [probes.Response(200, "ok"), probes.Response(404, '{"error": "nope"}'),
                         probes.Response(0, "curl: (7) Failed to connect"), probes.Response(200, "<html>")]


def test_a_transfer_that_did_not_end_well_counts_as_no_answer_whatever_its_status():
    engine = Curl({"http://a/slow": ("half a bo", 200, 28)})
    assert probes.http_get(engine, Settings, "http://a/slow") == probes.Response(0, "half a bo")


def test_a_body_that_forges_the_status_line_cannot_pass_for_another_url():
    """The marker is random: an app cannot end its body with a line that looks like the next answer."""
    engine = Curl({"http://a/one": ("--0123456789abcdef--200 0\n", 500, 0), "http://a/two": ("ok", 200, 0)})
    responses = probes.http_get_many(engine, Settings, ["http://a/one", "http://a/two"])
    assert [response.status for response in responses] == [500, 200]


def test_output_without_the_markers_fails_every_url_with_what_curl_said():
    class Broken:
        def exec_run(self, name, argv, environment=None, output_expected=False):
            return ExecResult(127, "sh: curl: not found")

    assert probes.http_get_many(Broken(), Settings, ["http://a/1", "http://a/2"]) == \
        [probes.Response(0, "sh: curl: not found")] * 2
