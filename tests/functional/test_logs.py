"""The tasks' logs, read where awslogs puts them (CloudWatch Logs, `<role>/<role>/<task
id>` streams in the cluster's group): the reader against the emulator's CloudWatch Logs,
and the route, owner or admin only."""

from __future__ import annotations

import json
import time
import urllib.parse

import pytest

from chalicelib import logs
from chalicelib.core.aws import Clients
from chalicelib.core.errors import InvalidRequest
from chalicelib.core.runtime import Runtime
from daskyard.client import DaskyardApi
from daskyard.local.stack import LocalMode
from tests.support.clusters import spec
from tests.support.records import make
from tests.support.signed import SignedHttp

GROUP = "/daskyard/local/demo"


def awslogs(clients: Clients, t: int) -> None:
    """Four tasks' streams, as the awslogs driver names and fills them."""
    streams = {"scheduler/scheduler/aaa": [(t, "scheduler starts"), (t + 30, "Scheduler at: tls://x")],
               "worker/worker/bbb": [(t + 10, "worker one"), (t + 40, "worker one later")],
               "worker/worker/ccc": [(t + 20, "worker two")],
               "notebook/notebook/ddd": [(t + 5, "lab")]}
    clients.logs.create_log_group(logGroupName=GROUP)
    for name, events in streams.items():
        clients.logs.create_log_stream(logGroupName=GROUP, logStreamName=name)
        clients.logs.put_log_events(logGroupName=GROUP, logStreamName=name, logEvents=[
            {"timestamp": ts, "message": text} for ts, text in events])


def test_the_reader_reads_awslogs_streams_by_role_in_time_order_and_in_pages(
        clients: Clients) -> None:
    t = int(time.time() * 1000) - 60_000
    awslogs(clients, t)
    workers = logs.read(clients.logs, GROUP, role="worker")
    assert [(e["role"], e["task"], e["message"]) for e in workers["events"]] == [
        ("worker", "bbb", "worker one"), ("worker", "ccc", "worker two"),
        ("worker", "bbb", "worker one later")]
    assert workers["next_token"] is None
    everything = [e["message"] for e in logs.read(clients.logs, GROUP)["events"]]
    assert everything == ["scheduler starts", "lab", "worker one", "worker two",
                          "Scheduler at: tls://x", "worker one later"]
    first = logs.read(clients.logs, GROUP, limit=2)
    assert [e["message"] for e in first["events"]] == everything[:2] and first["next_token"]
    rest = logs.read(clients.logs, GROUP, token=first["next_token"])
    assert [e["message"] for e in rest["events"]] == everything[2:]
    assert rest["next_token"] is None
    assert [e["message"] for e in logs.read(clients.logs, GROUP, since=t + 20)["events"]] == \
        everything[3:]
    assert logs.last_lines(clients.logs, GROUP, "worker/worker/bbb", 1) == ["worker one later"]
    # Nothing there (yet, or any more): no lines, no error.
    assert logs.read(clients.logs, "/daskyard/local/none") == {"events": [], "next_token": None}
    assert logs.read(clients.logs, GROUP, role="notebook")["events"][0]["message"] == "lab"
    assert logs.last_lines(clients.logs, GROUP, "worker/worker/zzz") == []
    for bad, field in (({"role": "driver"}, "role"), ({"limit": 5000}, "limit"),
                       ({"since": -1}, "since")):
        with pytest.raises(InvalidRequest, match=field):
            logs.read(clients.logs, GROUP, **bad)  # type: ignore[arg-type]


def test_the_logs_route_answers_the_owner_and_admins_only_and_checks_its_query(
        http: SignedHttp, rt: Runtime, clients: Clients) -> None:
    alice, bob = http.as_user("alice"), http.as_user("bob")
    make(rt, spec("demo"), owner=alice.arn)
    awslogs(clients, int(time.time() * 1000) - 60_000)
    out = alice.get("/clusters/demo/logs?role=scheduler&limit=1")
    assert out.status_code == 200, out.body
    page = json.loads(out.body)
    assert [e["message"] for e in page["events"]] == ["scheduler starts"] and page["next_token"]
    assert len(json.loads(http.get("/clusters/demo/logs").body)["events"]) == 6  # an admin
    assert bob.get("/clusters/demo/logs").status_code == 404
    for query, field in (("limit=5000", "limit"), ("role=driver", "role"),
                         ("since=yesterday", "since"), ("tail=5", "tail")):
        answer = alice.get(f"/clusters/demo/logs?{query}")
        assert answer.status_code == 400 and field in json.loads(answer.body)["error"], query


# Every other spelling of a number: a sign, blanks, an underscore, a leading zero,
# superscript and Arabic-Indic digits (isdigit() took "²", then int() answered 500).
RESPELLED = ["²", "\u0663", "1²", "+5", " 5", "5 ", "5\n", "1_0", "05", "-1", "5.0", "0x5",
             "9" * 16]


def test_the_logs_route_refuses_every_other_spelling_of_a_number_with_a_400(
        http: SignedHttp, rt: Runtime) -> None:
    make(rt, spec("demo"), owner=http.arn)
    for field in ("since", "limit"):
        for text in RESPELLED:
            answer = http.get(f"/clusters/demo/logs?{field}={urllib.parse.quote(text)}")
            assert answer.status_code == 400, (field, text, answer.body)
            body = json.loads(answer.body)
            assert body["code"] == "InvalidRequest" and body["error"].startswith(f"{field}: "), \
                (field, text)
    assert http.get("/clusters/demo/logs?since=0&limit=1").status_code == 200


def test_following_gives_every_line_once_and_then_the_new_ones(
        stack: LocalMode, rt: Runtime, clients: Clients) -> None:
    """`daskyard logs --follow`'s reader, over the local API: new lines arrive, one at
    the very millisecond of the last line seen, and none is given twice."""
    url = stack.api_url or stack.serve_api()
    make(rt, spec("demo"))
    t = int(time.time() * 1000) - 60_000
    awslogs(clients, t)
    lines = DaskyardApi(url).follow("demo", poll=0.05)
    assert len([next(lines) for _ in range(6)]) == 6
    clients.logs.put_log_events(logGroupName=GROUP, logStreamName="worker/worker/ccc",
                                logEvents=[{"timestamp": t + 40, "message": "same ms"},
                                           {"timestamp": t + 50, "message": "later"}])
    assert [next(lines)["message"] for _ in range(2)] == ["same ms", "later"]
    clients.logs.put_log_events(logGroupName=GROUP, logStreamName="scheduler/scheduler/aaa",
                                logEvents=[{"timestamp": t + 60, "message": "last"}])
    assert next(lines)["message"] == "last"  # and not "later" again
