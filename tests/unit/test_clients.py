"""chalicelib.core.aws.Clients: every Clients of a process reads botocore's service
models through one loader (each parsed once), and each still signs as its own
principal. In a fresh interpreter (the suite's conftest shares botocore's loaders by
itself: tests/support/boto.py); no request is sent."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import json
from chalicelib.core.aws import Clients

first = Clients(region="us-east-1", endpoint_url="http://127.0.0.1:1", credentials={
    "AWS_ACCESS_KEY_ID": "AKIAFIRST", "AWS_SECRET_ACCESS_KEY": "a"})
second = Clients(region="eu-west-1", endpoint_url="http://127.0.0.1:1", credentials={
    "AWS_ACCESS_KEY_ID": "AKIASECOND", "AWS_SECRET_ACCESS_KEY": "b",
    "AWS_SESSION_TOKEN": "t"})
third = Clients(region="us-east-1")
keys = [c.ssm._request_signer._credentials for c in (first, second)]
print(json.dumps({
    "one_loader": first.ssm._loader is second.ssm._loader is third.ssm._loader,
    "one_model": first.ssm.meta.service_model._service_description
                 is second.ssm.meta.service_model._service_description,
    "keys": [[k.access_key, k.secret_key, k.token] for k in keys],
    "regions": [first.ssm.meta.region_name, second.ssm.meta.region_name],
    "paths": first.ssm._loader.search_paths}))
"""


def test_clients_share_the_parsed_models_and_keep_their_own_keys() -> None:
    env = {"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1"}
    out = json.loads(subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env,
                                    capture_output=True, text=True, check=True).stdout)
    assert out["one_loader"] and out["one_model"]
    assert out["keys"] == [["AKIAFIRST", "a", None], ["AKIASECOND", "b", "t"]]
    assert out["regions"] == ["us-east-1", "eu-west-1"]
    # boto3 adds its data folder to the loader of each Session it is given: once is kept.
    assert len(out["paths"]) == len(set(out["paths"]))
    assert any(path.endswith("boto3/data") for path in out["paths"])
