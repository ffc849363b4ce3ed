"""The `daskyard` command against the local API over real HTTP (control-plane-only
tasks): JSON output for scripts, every create option, and one-line errors."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

from daskyard.local.stack import LocalMode
from tests.support.modules import run


@pytest.fixture
def api(stack: LocalMode) -> Iterator[str]:
    yield stack.api_url or stack.serve_api()




def test_version() -> None:
    code, out, _ = run("--version")
    assert code == 0 and out.startswith("daskyard ") and out.split()[1][0].isdigit()


def test_up_with_every_option_then_json_records_for_scripts(api: str) -> None:
    code, out, _ = run("up", "cli-json", "--workers", "1", "--worker-threads", "3",
                       "--env", "MODEL=large=v2", "--tag", "team=data", "--ttl", "8h",
                       "--idle-timeout", "30", "-o", "json", "--api", api)
    assert code == 0, out
    record = json.loads(out)  # nothing but the record on stdout: no progress lines
    assert record["status"] == "READY"
    assert {k: record["spec"][k] for k in ("workers", "worker_threads", "environment", "tags",
                                           "ttl_hours", "idle_timeout_minutes")} == {
        "workers": 1, "worker_threads": 3, "environment": {"MODEL": "large=v2"},
        "tags": {"team": "data"}, "ttl_hours": 8, "idle_timeout_minutes": 30}
    assert record["cost_per_hour"] > 0

    code, out, _ = run("ls", "-o", "json", "--api", api)
    listed = {r["name"]: r for r in json.loads(out)}
    # The whole address, however narrow the terminal (a table would cut it).
    assert listed["cli-json"]["scheduler_address"] == record["scheduler_address"]

    code, out, _ = run("status", "cli-json", "--api", api)
    words = " ".join(out.split())  # however the table wraps at the terminal's width
    assert code == 0
    assert "expires" in words and "idle timeout 30 min" in words and "/h estimated" in words

    code, out, _ = run("down", "cli-json", "-o", "json", "--api", api)
    assert code == 0 and json.loads(out)["status"] == "DELETED"


def test_a_drive_shown_shared_and_unshared(api: str) -> None:
    code, out, _ = run("up", "cli-drive", "--workers", "0", "--drive", "cli-team",
                       "--no-wait", "--api", api)
    assert code == 0, out
    code, out, _ = run("drive", "cli-team", "--api", api)
    assert code == 0 and "shared with" in out and "nobody" in out and "owner" in out
    principal = "arn:aws:iam::123456789012:user/bob"
    code, out, _ = run("drive", "cli-team", "--share", principal, "--share", "webhook:ci",
                       "-o", "json", "--api", api)
    assert code == 0 and json.loads(out)["shares"] == [principal, "webhook:ci"]
    code, out, _ = run("drive", "cli-team", "--unshare", "-o", "json", "--api", api)
    assert code == 0 and json.loads(out)["shares"] == []
    code, _, err = run("drive", "cli-team", "--share", "bob", "--api", api)
    assert code == 1 and "principals" in err
    code, _, err = run("drive", "nobodys", "--api", api)
    assert code == 1 and "no drive named 'nobodys'" in err


def test_up_no_wait_prints_the_record_and_how_to_follow_it(api: str) -> None:
    code, out, _ = run("up", "cli-nowait", "--workers", "0", "--no-wait", "--api", api)
    assert code == 0 and "CREATING" in out and "daskyard status cli-nowait" in out
    run("down", "cli-nowait", "--api", api)


def one_line_error(args: list[str], *expected: str) -> None:
    code, out, err = run(*args)
    assert code != 0 and out == ""
    assert len(err.strip().splitlines()) == 1, err
    for text in expected:
        assert text in err, err


def test_a_malformed_api_url_says_what_it_should_be() -> None:
    one_line_error(["ls", "--api", "127.0.0.1:8000"], "must be http(s)://", "'127.0.0.1:8000'")


def test_an_unreachable_api_says_so() -> None:
    with socket.socket() as holder:  # a port nothing listens on
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
    one_line_error(["ls", "--api", f"http://127.0.0.1:{port}"], "cannot reach")


@pytest.mark.reads_only
def test_error_text_is_printed_literally(api: str) -> None:
    # The API's message quotes the name pattern; rich markup would swallow "[a-z]".
    one_line_error(["status", "Not_A_Name", "--api", api], "[a-z]")


def test_a_busy_port_names_the_flag_to_use() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
        one_line_error(["serve", "--port", str(port)], f"port {port}", "--port")


@pytest.mark.parametrize(("args", "expected"), [
    (["--ttl", "0"], "at least 1h"),
    (["--ttl", "soon"], "--ttl takes hours"),
    (["--env", "NOEQUALS"], "--env takes KEY=VALUE"),
])
def test_bad_options_are_refused_before_any_request(args: list[str], expected: str) -> None:
    # No API is running on this URL: a request would say "cannot reach" instead.
    one_line_error(["up", "x1", *args, "--api", "http://127.0.0.1:9"], expected)


def test_serve_no_local_is_refused_plainly() -> None:
    one_line_error(["serve", "--no-local"], "only --local")


@pytest.mark.parametrize(("args", "expected"), [
    (["--latency", "azure"], "latency profile 'azure': one of none, aws"),
    (["--latency", "aws", "--time-scale", "0"], "time scale 0.0: between 0 (exclusive) and 1"),
])
def test_serve_refuses_an_unknown_latency_profile(args: list[str], expected: str) -> None:
    one_line_error(["serve", "--port", "1", *args], expected)
