"""Owners and admins, through the routes as the local API serves them (SigV4 checked
against the emulator's IAM): another caller's cluster is invisible and untouchable,
an admin's is not, quotas refuse before anything is made, unsigned or badly signed
requests get 403 and make nothing."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest
import requests

from chalicelib import lifecycle
from chalicelib.core import signing
from chalicelib.core.aws import Clients
from chalicelib.core.errors import ClusterBusy, QuotaExceeded
from chalicelib.core.models import Adapt, Claim, Status
from chalicelib.core.runtime import Runtime, runtime
from daskyard.client import ApiError, DaskyardApi
from daskyard.credentials import LocalCredentials, load
from daskyard.local.deploy import user_keys
from tests.support.callers import ALICE
from tests.support.clusters import spec, wait_status
from tests.support.records import force, make
from tests.support.signed import SignedHttp

JSON = {"Content-Type": "application/json"}


def post(http: SignedHttp, name: str, workers: int = 1) -> Any:
    body = {"name": name, "workers": workers, "allowed_cidrs": ["10.1.0.0/16"]}
    return http.post("/clusters", headers=JSON, body=json.dumps(body))


def executions(clients: Clients, arn: str) -> int:
    return len(clients.sfn.list_executions(stateMachineArn=arn)["executions"])


def test_another_users_cluster_is_invisible_and_untouchable_but_an_admin_acts_on_it(
        http: SignedHttp, rt: Runtime, clients: Clients) -> None:
    alice, bob = http.as_user("alice"), http.as_user("bob")
    assert post(alice, "mine").status_code == 202
    made = wait_status(rt, "mine", {Status.READY})
    assert made.owner == alice.owner and alice.owner not in ("", alice.arn)

    assert bob.get("/clusters/mine").status_code == 404
    assert json.loads(bob.get("/clusters").body)["clusters"] == []
    assert bob.put("/clusters/mine/workers", headers=JSON,
                   body=json.dumps({"workers": 3})).status_code == 404
    assert bob.delete("/clusters/mine").status_code == 404
    assert bob.get("/clusters/mine/credentials").status_code == 404
    # Names are one per stage: bob learns that "mine" is taken, and nothing else.
    taken = post(bob, "mine")
    assert (taken.status_code, json.loads(taken.body)) == (409, {
        "error": "cluster 'mine' already exists", "code": "ClusterExists"})
    after = rt.registry.require("mine")
    assert (after.status, after.spec.workers, after.execution_arn) == \
        (Status.READY, 1, made.execution_arn)
    assert executions(clients, rt.settings.destroy_state_machine_arn) == 0

    assert [c["name"] for c in json.loads(alice.get("/clusters").body)["clusters"]] == ["mine"]
    assert json.loads(http.get("/clusters").body)["clusters"][0]["owner"] == alice.owner
    assert http.put("/clusters/mine/workers", headers=JSON,
                    body=json.dumps({"workers": 2})).status_code == 200
    assert http.delete("/clusters/mine").status_code == 202  # the admin
    assert wait_status(rt, "mine", {Status.DELETED}).status == Status.DELETED


@pytest.mark.reads_only
@pytest.mark.parametrize("tamper", ["unsigned", "wrong secret", "unknown key", "body changed",
                                    "path changed", "expired", "unsigned payload swapped",
                                    "other region"])
def test_unsigned_or_badly_signed_requests_get_403_and_make_nothing(
        http: SignedHttp, rt: Runtime, clients: Clients, tamper: str) -> None:
    body = json.dumps({"name": "sneaky", "workers": 1, "allowed_cidrs": ["10.1.0.0/16"]})
    client = http.as_user("mallory")
    signed_body, signed_path, at, extra, region = body, "/clusters", None, {}, "us-east-1"
    if tamper == "unsigned":
        client = http.unsigned()
    elif tamper == "wrong secret":
        client.keys = (client.arn, client.keys[1], "x" * 40)  # type: ignore[index]
    elif tamper == "unknown key":
        client.keys = (client.arn, "AKIAIOSFODNN7EXAMPLE", "y" * 40)
    elif tamper == "body changed":
        signed_body = body.replace("sneaky", "harmless")
    elif tamper == "path changed":
        signed_path = "/clusters/sneaky"
    elif tamper == "expired":
        at = datetime(2020, 1, 1)
    elif tamper == "unsigned payload swapped":  # a captured request, another body
        extra, signed_body = {"X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD"}, \
            body.replace("sneaky", "harmless")
    elif tamper == "other region":
        region = "eu-west-1"
    headers = client.headers_for("POST", signed_path, {**JSON, **extra}, signed_body, at,
                                 region)
    response = client.http.request("POST", "/clusters", headers=headers, body=body)
    assert response.status_code == 403, response.body
    assert json.loads(response.body)["message"]
    assert rt.registry.list() == []
    assert executions(clients, rt.settings.create_state_machine_arn) == 0


def test_a_quota_refuses_before_anything_is_made(
        http: SignedHttp, clients: Clients, stage_config: Any) -> None:
    stage_config(quota_clusters=1, quota_workers=3)
    rt, alice = runtime(), http.as_user("alice")
    assert post(alice, "first", workers=2).status_code == 202
    second = post(alice, "second")
    assert second.status_code == 403 and "live clusters" in json.loads(second.body)["error"]
    wait_status(rt, "first", {Status.READY})
    scaled = alice.put("/clusters/first/workers", headers=JSON, body=json.dumps({"workers": 4}))
    assert scaled.status_code == 403 and "workers" in json.loads(scaled.body)["error"]
    assert [r.name for r in rt.registry.list()] == ["first"]
    assert rt.registry.require("first").spec.workers == 2
    assert executions(clients, rt.settings.create_state_machine_arn) == 1
    # Another owner has a quota of their own; the admin has none.
    assert post(http.as_user("bob"), "bobs").status_code == 202
    assert post(http, "admins", workers=4).status_code == 202


def test_concurrent_creates_never_pass_the_quota(stack: Any, clients: Clients,
                                                 stage_config: Any) -> None:
    stage_config(quota_clusters=2)
    rt = runtime()
    go = threading.Barrier(6)
    outcomes: list[str] = []

    def create(i: int) -> None:
        go.wait()
        try:
            lifecycle.create_cluster(rt, spec(f"race{i}", workers=1), caller=ALICE)
            outcomes.append("made")
        except QuotaExceeded:
            outcomes.append("refused")

    threads = [threading.Thread(target=create, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    made = [r for r in rt.registry.list() if r.owner == ALICE.id]
    assert len(made) == outcomes.count("made") <= 2
    assert outcomes.count("refused") >= 4
    assert executions(clients, rt.settings.create_state_machine_arn) == len(made)


def desired_workers(clients: Clients, rt: Runtime, name: str) -> int:
    names = rt.names(name)
    [service] = clients.ecs.describe_services(
        cluster=names.base(), services=[names.service("worker")])["services"]
    return int(service["desiredCount"])


def test_concurrent_scales_and_adapts_never_pass_the_quota(
        stack: Any, clients: Clients, stage_config: Any) -> None:
    """The audit's race: each change alone fits a quota of 6 (three clusters of one
    worker, one raised to 4), two together do not. Checked then written, two adapts made
    10 workers; claimed, then counted, none of these rounds passes 6."""
    stage_config(quota_workers=6)
    rt = runtime()
    names = ["one", "two", "three"]
    for name in names:
        lifecycle.create_cluster(rt, spec(name, workers=1), caller=ALICE)
    for name in names:
        wait_status(rt, name, {Status.READY})
    rounds = [  # (cluster, "scale" or "adapt") fired at once
        [("one", "adapt"), ("two", "adapt")],
        [("one", "scale"), ("two", "scale")],
        [("one", "adapt"), ("two", "scale"), ("three", "adapt")],
        [("one", "scale"), ("one", "adapt"), ("two", "adapt"), ("three", "scale")],
    ]
    for changes in rounds:
        go = threading.Barrier(len(changes))

        def change(name: str, how: str, go: threading.Barrier = go) -> str:
            go.wait()
            try:
                if how == "scale":
                    lifecycle.scale_cluster(rt, name, 4, caller=ALICE)
                else:
                    lifecycle.adapt_cluster(rt, name, Adapt(minimum=0, maximum=4),
                                            caller=ALICE)
            except QuotaExceeded:
                return "refused"
            except ClusterBusy:  # another change of the same cluster held its claim
                return "busy"
            return "made"

        with ThreadPoolExecutor(len(changes)) as pool:
            outcomes = list(pool.map(lambda c: change(*c), changes))
        records = [rt.registry.require(name) for name in names]
        assert sum(lifecycle.most_workers(r) for r in records) <= 6, (changes, outcomes)
        assert outcomes.count("made") <= 1 and all(r.lease.claim is None for r in records)
        for record in records:  # what is recorded is what was applied, and no more
            if record.adapt is None:
                assert desired_workers(clients, rt, record.name) == record.spec.workers
        # Back to a worker each, fixed: lowering is never refused.
        for name in names:
            lifecycle.scale_cluster(rt, name, 1, caller=ALICE)


def test_a_claim_holds_a_clusters_changes_and_counts_until_it_lapses(
        stack: Any, stage_config: Any) -> None:
    """A Lambda that died between its claim and its change: the claim still counts
    against the quota and keeps other changes of that cluster out until it lapses; its
    workers stay counted until that cluster's next change."""
    stage_config(quota_workers=6)
    rt = runtime()
    for name in ("held", "other"):
        rt.registry.create(spec(name, workers=1), ALICE.id, [], "")
        force(rt, name, status="READY")
    dead = Claim(workers=5, holder="dead-lambda", lapses=int(time.time()) + 60)
    rt.registry.scaling.claim(rt.registry.require("held"), dead, int(time.time()), (5, 6))
    assert rt.registry.quota.counter(ALICE.id) == (2, 6)
    with pytest.raises(ClusterBusy, match="being scaled"):
        lifecycle.adapt_cluster(rt, "held", Adapt(minimum=0, maximum=2), caller=ALICE)
    with pytest.raises(QuotaExceeded, match="this would make 7"):
        lifecycle.adapt_cluster(rt, "other", Adapt(minimum=0, maximum=2), caller=ALICE)
    assert rt.registry.require("other").lease.claim is None  # the refused one wrote nothing
    force(rt, "held", **{"lease.claim": {**dead.model_dump(), "lapses": int(time.time()) - 1}})
    after = lifecycle.adapt_cluster(rt, "held", Adapt(minimum=0, maximum=4), caller=ALICE)
    assert (after.adapt, after.lease.claim) == (Adapt(minimum=0, maximum=4), None)
    lifecycle.adapt_cluster(rt, "other", Adapt(minimum=0, maximum=2), caller=ALICE)
    assert rt.registry.quota.counter(ALICE.id) == (2, 6)


def test_a_webhook_key_acts_on_its_own_clusters_only(
        http: SignedHttp, clients: Clients, stage_config: Any) -> None:
    keys = {"ci": "c" * 64, "etl": "e" * 64}
    rt = runtime()
    clients.secrets.put_secret_value(SecretId=rt.settings.webhook_secret_id,
                                     SecretString=json.dumps(keys))
    stage_config(webhook_secret_id=rt.settings.webhook_secret_id)  # a fresh secret cache

    def hook(key_id: str, body: dict[str, Any]) -> Any:
        raw = json.dumps(body).encode()
        headers = {**signing.signed_headers(keys.get(key_id, "z" * 64), raw),
                   signing.KEY_ID_HEADER: key_id}
        return http.unsigned().post("/webhooks", body=raw, headers=headers)

    made = hook("ci", {"action": "create", "name": "nightly-etl", "workers": 1})
    assert made.status_code == 202
    rt = runtime()
    assert rt.registry.require("nightly-etl").owner == "webhook:ci"
    assert hook("etl", {"action": "destroy", "name": "nightly-etl"}).status_code == 404
    assert hook("etl", {"action": "scale", "name": "nightly-etl", "workers": 3}).status_code \
        == 404
    assert hook("nokey", {"action": "destroy", "name": "nightly-etl"}).status_code == 401
    assert rt.registry.require("nightly-etl").status in (Status.CREATING, Status.READY)
    assert hook("ci", {"action": "destroy", "name": "nightly-etl"}).status_code == 202


@pytest.mark.reads_only
def test_the_local_api_writes_the_admins_keys_0600_and_refuses_unsigned_requests(
        stack: Any) -> None:
    url = stack.api_url or stack.serve_api()
    path = stack.root / "credentials.json"
    assert path.stat().st_mode & 0o777 == 0o600
    keys = load(url, path)
    assert keys is not None and keys.arn == stack.admin[0]
    assert keys.secret_access_key not in repr(keys)
    unsigned = requests.get(f"{url}/clusters", timeout=10)
    assert unsigned.status_code == 403
    assert unsigned.json()["message"] == "Missing Authentication Token"
    assert DaskyardApi(url, local=keys).list() == []
    with pytest.raises(ApiError, match="signature we calculated does not match") as refused:
        DaskyardApi(url, local=replace(keys, secret_access_key="z" * 40)).list()
    assert refused.value.status == 403


def test_concurrent_requests_of_two_users_each_keep_their_own_caller(stack: Any) -> None:
    """The local API serves each request in its own thread: every one must see its own
    body and caller, never another request's."""
    url = stack.api_url or stack.serve_api()
    apis = {}
    for user in ("alice", "bob"):
        arn, key_id, secret = user_keys(stack.clients, user)
        user_id = stack.emulator.access_key(key_id)[2]  # the owner: the user's unique id
        apis[user] = (user_id,
                      DaskyardApi(url, local=LocalCredentials(url, key_id, secret, arn)))
    posts = [(user, f"{user}{i}") for i in range(5) for user in apis]
    go = threading.Barrier(len(posts))

    def post(user: str, name: str) -> str:
        go.wait()
        return str(apis[user][1].create({"name": name, "workers": 0})["owner"])

    with ThreadPoolExecutor(len(posts)) as pool:
        owners = list(pool.map(lambda p: post(*p), posts))
    assert owners == [apis[user][0] for user, _ in posts]
    assert {r.name: r.owner for r in runtime().registry.list()} == {
        name: apis[user][0] for user, name in posts}


def test_owners_are_iam_user_ids_so_a_user_made_again_under_a_name_is_someone_else(
        http: SignedHttp, rt: Runtime, clients: Clients) -> None:
    """The local API names the caller by the emulator's IAM user id, as API Gateway
    does (`aws:userid`): a user deleted and made again under the same name has another
    id and does not inherit the first one's clusters; what was recorded under the ARN
    (owners before principal ids) stays the user's."""
    first = http.as_user("carol")
    assert post(first, "carols", workers=0).status_code == 202
    assert rt.registry.require("carols").owner == first.owner
    make(rt, spec("carols-old"), owner=first.arn)  # a record of before
    assert first.get("/clusters/carols-old").status_code == 200
    iam = clients.client("iam")
    for key in iam.list_access_keys(UserName="carol")["AccessKeyMetadata"]:
        iam.delete_access_key(UserName="carol", AccessKeyId=key["AccessKeyId"])
    iam.delete_user(UserName="carol")
    again = http.as_user("carol")
    assert again.arn == first.arn and again.owner != first.owner
    assert again.get("/clusters/carols").status_code == 404
    # (A record of before is the ARN's: the README's migration note says so.)
    listed = [c["name"] for c in json.loads(again.get("/clusters").body)["clusters"]]
    assert listed == ["carols-old"]
