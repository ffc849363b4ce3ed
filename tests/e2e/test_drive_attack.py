"""The shared-drive attack of issue 26, end to end in local mode, with real Jupyter,
kernels, scheduler and workers started by the local ECS agent from the images'
entrypoint: owner A plants Jupyter configuration, an IPython startup file and a kernel
spec on drive `shared`, everywhere B's notebook could have read them; B (another IAM
user) cannot name A's drive until A shares it; shared, B's notebook cluster starts, a
kernel starts in it, and none of A's code runs; B's token, key and certificates are
nowhere on the drive; B's clusters see B's own folder of the drive, not A's."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest
import requests

from chalicelib.core.naming import Names
from daskyard.client import ApiError, DaskyardApi
from daskyard.credentials import LocalCredentials
from daskyard.local.deploy import user_keys
from daskyard.local.stack import LocalMode

pytestmark = pytest.mark.e2e
NOTEBOOK = {"notebook": True, "allowed_cidrs": ["10.1.0.0/16"], "drive": "shared"}
# Where Jupyter and IPython look for code they run, relative to a folder B's notebook
# might have had for its home, working folder or (before) its Jupyter state.
CONFIG_FILES = [".jupyter/config/jupyter_server_config.py",  # the old JUPYTER_CONFIG_DIR
                ".jupyter/config/jupyter_lab_config.py", ".jupyter/config/jupyter_config.py",
                ".jupyter/ipython/profile_default/startup/00-planted.py",  # the old IPYTHONDIR
                ".jupyter/ipython/profile_default/ipython_kernel_config.py",
                ".jupyter/ipython/profile_default/ipython_config.py",
                ".jupyter/jupyter_server_config.py", ".jupyter/jupyter_config.py",  # ~/.jupyter
                ".ipython/profile_default/startup/00-planted.py",  # ~/.ipython
                ".ipython/profile_default/ipython_kernel_config.py",
                "jupyter_server_config.py", "jupyter_lab_config.py",  # the working folder
                "ipython_config.py", "ipython_kernel_config.py"]
# A kernel spec in the old JUPYTER_DATA_DIR: it would replace the notebook's python3.
KERNEL_SPEC = ".jupyter/data/kernels/python3/kernel.json"
STATE = ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR")
# Run in B's kernel: where it works, and where Jupyter's and IPython's folders are.
SHOW_STATE = ("import json, os\nprint(json.dumps({'cwd': os.getcwd(), "
              "**{k: os.environ.get(k, '') for k in " + repr(list(STATE)) + "}}))\n")


def api_as(live: LocalMode, user: str) -> tuple[str, DaskyardApi]:
    """(the owner id its requests have, an API client signing as IAM user `user`)."""
    assert live.clients is not None and live.api_url
    arn, key_id, secret = user_keys(live.clients, user)
    found = live.emulator.access_key(key_id)  # the owner its requests have: its user id
    assert found is not None
    owner = found[2]
    return owner, DaskyardApi(live.api_url, local=LocalCredentials(live.api_url, key_id,
                                                                 secret, arn))


def payload(ran: Path, where: str) -> str:
    """What A plants: code that records that it ran, with the environment it ran in
    (B's token and keys, were it B's notebook), as the audit's did."""
    return (f"import os, pathlib\n"
            f"pathlib.Path({str(ran)!r}, {where!r}.replace('/', '_') + '-' + "
            f"str(os.getpid())).write_text(repr(sorted(os.environ.items())))\n")


def plant(base: Path, ran: Path) -> list[Path]:
    planted = []
    for relative in CONFIG_FILES:
        path = base / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(payload(ran, f"{base.name}/{relative}"))
        planted.append(path)
    spec = base / KERNEL_SPEC
    spec.parent.mkdir(parents=True, exist_ok=True)
    spec.write_text(json.dumps({
        "argv": ["python", "-c", payload(ran, f"{base.name}/kernel.json")],
        "display_name": "Python 3", "language": "python"}))
    return [*planted, spec]


def run_in_kernel(notebook_url: str, token: str, code: str) -> str:
    """Start a kernel in B's notebook, as opening a notebook does (IPython's startup
    files and kernel config would run as it starts), and run `code` in it over the
    kernel's websocket, as the browser does; what it printed."""
    api = notebook_url.replace("/lab", "/api/kernels")
    auth = {"Authorization": f"token {token}"}
    started = requests.post(api, headers=auth, json={"name": "python3"}, timeout=10)
    assert started.status_code == 201, started.text
    channels = api.replace("http://", "ws://", 1) + f"/{started.json()['id']}/channels"
    return asyncio.run(_execute(channels, auth, code))


async def _execute(url: str, headers: dict[str, str], code: str) -> str:
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    session, msg_id = uuid.uuid4().hex, uuid.uuid4().hex
    connection = await websocket_connect(HTTPRequest(f"{url}?session_id={session}",
                                                     headers=headers))
    await connection.write_message(json.dumps({
        "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "b",
                   "session": session, "date": "", "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell",
        "content": {"code": code, "silent": False, "store_history": False,
                    "user_expressions": {}, "allow_stdin": False}}))
    printed = []
    try:
        while True:
            raw = await asyncio.wait_for(connection.read_message(), 90)
            assert raw is not None, "the kernel's websocket closed"
            message = json.loads(raw)
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            assert kind != "error", content
            if kind == "stream":
                printed.append(content["text"])
            if kind == "status" and content["execution_state"] == "idle":
                return "".join(printed)
    finally:
        connection.close()


def test_another_owner_cannot_run_code_in_a_notebook_on_their_shared_drive(
        live: LocalMode, tmp_path: Path) -> None:
    ran = tmp_path / "ran"  # where the planted code would record itself: never the drive
    ran.mkdir()
    a_id, a = api_as(live, "alice")
    b_id, b = api_as(live, "bob")
    drive = live.root / "drives" / "shared"
    a_root, b_root = (drive / Names.drive_root(owner).lstrip("/") for owner in (a_id, b_id))

    # A names the drive first: it is A's. A plants code in A's folder of it, which A's
    # clusters write; and, for the worst case, at the drive's top and in the folder B's
    # clusters will have (as if written before drives had owners).
    a.create({"name": "a-claims", "workers": 0, "drive": "shared",
                  "allowed_cidrs": ["10.1.0.0/16"]})
    assert a.drive("shared")["owner"] == a_id
    # Made before B's create: two creates making one new drive's mount targets at once
    # conflict (EstablishSharedDrive, on AWS too).
    assert a.wait("a-claims", {"READY", "FAILED"}, timeout=120)["status"] == "READY"
    planted = [p for base in (a_root, drive, b_root) for p in plant(base, ran)]
    # The planted code works: run by hand, it records itself (then that is undone).
    exec(compile(planted[0].read_text(), str(planted[0]), "exec"), {})  # nosec B102  # the test's own payload
    assert len(list(ran.iterdir())) == 1
    for path in ran.iterdir():
        path.unlink()

    # B cannot name A's drive: refused, nothing made.
    with pytest.raises(ApiError) as refused:
        b.create({"name": "b-nb", "workers": 1, **NOTEBOOK})
    assert refused.value.status == 403 and "shared" in str(refused.value)
    assert a_id not in str(refused.value)
    assert b.list() == []
    with pytest.raises(ApiError) as hidden:
        b.drive("shared")
    assert hidden.value.status == 404

    # Shared with B: B's notebook cluster starts on the drive, in B's folder of it.
    assert a.share_drive("shared", [b_id])["shares"] == [b_id]
    b.create({"name": "b-nb", "workers": 1, **NOTEBOOK})
    record = b.wait("b-nb", {"READY", "FAILED"}, timeout=240)
    assert record["status"] == "READY", record
    assert live.agent is not None
    (notebook,) = live.agent.running("daskyard-local-b-nb-notebook")
    assert notebook.drive == b_root
    workers = live.agent.running("daskyard-local-b-nb-workers")
    assert workers and {w.drive for w in workers} == {b_root}

    secrets = b.credentials("b-nb")
    seen = json.loads(run_in_kernel(record["notebook_url"], secrets["jupyter_token"],
                                    SHOW_STATE))
    # None of A's code ran, anywhere: not in Jupyter, not in the kernel.
    assert sorted(p.name for p in ran.iterdir()) == []
    # The kernel works in B's folder of the drive; Jupyter's and IPython's own folders
    # are not on the drive.
    assert seen["cwd"] == str(b_root)
    for name in STATE:
        assert seen[name] and not Path(seen[name]).is_relative_to(drive), (name, seen)

    # B's secrets are nowhere on the drive (Jupyter's runtime files, which hold the
    # token and the kernels' keys, are in the task's own folder), nor A's copy of them.
    needles = [secrets["jupyter_token"], *(pem.strip().splitlines()[1]
                                           for pem in (secrets["key"], secrets["cert"]))]
    for path in drive.rglob("*"):
        if path.is_file():
            text = path.read_bytes().decode(errors="replace")
            assert not any(needle in text for needle in needles), path
