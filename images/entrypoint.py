#!/usr/bin/env python3
"""Daskyard's one entrypoint for the scheduler, worker and notebook images.

  entrypoint.py scheduler   dask scheduler on 8786, dashboard on 8787, with Daskyard's
                            plugin (daskyard_scheduler.py: adaptive scaling, idle shutdown)
  entrypoint.py worker      waits for the scheduler's address in SSM, then dask worker
  entrypoint.py notebook    waits likewise, then Jupyter Lab on 8888 with Client() preset
                            and the Dask pane on the cluster's dashboard
  entrypoint.py health ROLE the container health check: 0 when ROLE answers on its port

The address is read from the SSM parameter named by DASKYARD_SCHEDULER_PARAMETER,
which discovery writes when the scheduler task runs: nobody types an IP. Waiting is
bounded (DASKYARD_WAIT_SECONDS); past it the process exits non-zero with a clear
message, and ECS starts it again.

Every role speaks TLS only, with the cluster's CA and the certificate and key ECS
injects from Secrets Manager (DASKYARD_TLS_CA, DASKYARD_TLS_CERT, DASKYARD_TLS_KEY).
They are handed on as dask config in the environment, PEM strings that distributed
reads in memory: never a command-line argument, never a file left behind. Without them
a role does not start. The Jupyter token comes the same way (JUPYTER_TOKEN), and Jupyter
reads it from there.
"""

from __future__ import annotations

import json
import os
import random
import ssl
import sys
import tempfile
import time
from pathlib import Path

EXIT_NO_SCHEDULER = 3
EXIT_USAGE = 2
EXIT_NO_METADATA = 4
SCHEDULER_PLUGIN = "daskyard_scheduler"  # a module beside this file
DASHBOARD_PORT = 8787
NOTEBOOK_PORT = 8888
WORKER_PORT = 8790  # the worker's port in its container in bridge mode (EC2)
TLS_VARIABLES = ("DASKYARD_TLS_CA", "DASKYARD_TLS_CERT", "DASKYARD_TLS_KEY")
# The cluster's dashboard on the notebook's own Jupyter server (daskyard/jupyter.py's
# OWN_ROUTE): the Jupyter server reaches the HTTPS dashboard with the cluster's CA and
# token, which the browser has neither of.
OWN_DASHBOARD = "/daskyard/dashboard/"


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def read_scheduler_address(parameter: str, wait_seconds: float) -> str:
    """The address from SSM, waiting with jittered exponential backoff while it does not
    exist (workers start alongside the scheduler, so a short first wait matters; the
    jitter keeps many workers from polling SSM in step)."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError

    ssm = boto3.client("ssm", config=Config(retries={"mode": "standard"}))
    deadline = time.monotonic() + wait_seconds
    delay = 0.2
    while True:
        try:
            value = str(ssm.get_parameter(Name=parameter)["Parameter"]["Value"])
            if value.startswith("tls://"):
                return value
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ParameterNotFound":
                raise
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            print(f"daskyard: no scheduler address at {parameter} after {wait_seconds:.0f}s; "
                  "exiting so that ECS starts this task again", file=sys.stderr, flush=True)
            raise SystemExit(EXIT_NO_SCHEDULER)
        print(f"daskyard: waiting for {parameter}", file=sys.stderr, flush=True)
        time.sleep(min(delay * random.uniform(0.5, 1.0), remaining))  # nosec B311  # retry jitter, no secret
        delay = min(delay * 1.5, 10.0)


def option(flag: str, value: str) -> list[str]:
    """[flag, value] when the value is set, else nothing (dask's own default holds)."""
    return [flag, value] if value else []


def use_tls(role: str) -> None:
    """Dask config for `role` from the injected PEMs, in this process's environment (the
    dask process and, for the notebook, its kernels inherit it). Encryption is required:
    a plain tcp:// peer and a peer without a certificate of this cluster's CA are refused."""
    missing = [name for name in TLS_VARIABLES if not env(name)]
    if missing:
        print(f"daskyard: {', '.join(missing)} not set (ECS injects the cluster's TLS "
              "material from Secrets Manager); not starting without TLS", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)
    ca, cert, key = (os.environ.pop(name) for name in TLS_VARIABLES)
    dask_role = "client" if role == "notebook" else role
    prefix = "DASK_DISTRIBUTED__COMM__"
    os.environ.update({
        f"{prefix}REQUIRE_ENCRYPTION": "True", f"{prefix}DEFAULT_SCHEME": "tls",
        f"{prefix}TLS__CA_FILE": ca,
        f"{prefix}TLS__{dask_role.upper()}__CERT": cert,
        f"{prefix}TLS__{dask_role.upper()}__KEY": key})


def scheduler_command(host: str) -> list[str]:
    return ["dask", "scheduler", "--protocol", "tls", "--port", "8786",
            "--dashboard-address", f"{host}:8787", "--preload", SCHEDULER_PLUGIN,
            *option("--host", host), *option("--idle-timeout", env("DASKYARD_IDLE_TIMEOUT"))]


def run_scheduler(cmd: list[str]) -> None:
    """`dask scheduler` run by the plugin's file (it runs the scheduler in its process),
    so that the exit code says why the scheduler ended: EXIT_IDLE after an idle timeout
    (see daskyard_scheduler), which ECS reports."""
    plugin = str(Path(__file__).resolve().with_name(f"{SCHEDULER_PLUGIN}.py"))
    os.execv(sys.executable, [sys.executable, plugin, *cmd[2:]])  # nosec B606  # this interpreter, our plugin, fixed argv


def worker_command(address: str, host: str) -> list[str]:
    return ["dask", "worker", address, "--nworkers", "1",
            *option("--nthreads", env("DASKYARD_WORKER_THREADS")),
            "--death-timeout", env("DASKYARD_DEATH_TIMEOUT", "60"),
            "--dashboard-address", f"{host}:8789",
            "--local-directory", env("DASKYARD_SCRATCH", "/tmp/dask-worker-space"),  # nosec B108  # the container's own scratch default
            *option("--host", host), *option("--memory-limit", env("DASKYARD_WORKER_MEMORY"))]


def bridge_worker_options(wait_seconds: float = 30) -> list[str]:
    """A worker in bridge mode (EC2) listens in its container but is reached at its
    instance's address and the host port ECS mapped to WORKER_PORT, which it advertises;
    both are in the ECS container metadata file (ECS_ENABLE_CONTAINER_METADATA, complete
    once READY). It runs without a nanny, which could only advertise the container's own
    address, unreachable from the scheduler: ECS starts a worker that exited again.
    Nothing without a mapped host port (Fargate, awsvpc, local mode)."""
    path = env("ECS_CONTAINER_METADATA_FILE")
    if not path:
        return []
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError):
            data = {}
        if data.get("MetadataFileStatus") == "READY":
            break
        if time.monotonic() > deadline:
            print(f"daskyard: the ECS container metadata {path} is not READY", file=sys.stderr)
            raise SystemExit(EXIT_NO_METADATA)
        time.sleep(1)
    port = next((m.get("HostPort") for m in data.get("PortMappings") or []
                 if m.get("ContainerPort") == WORKER_PORT and m.get("HostPort")), None)
    if port is None:
        return []
    return ["--listen-address", f"tls://0.0.0.0:{WORKER_PORT}",  # nosec B104  # inside the container; the instance's group limits access
            "--contact-address", f"tls://{data['HostPrivateIPv4Address']}:{port}",
            "--no-nanny"]


def notebook_command(address: str, host: str, efs: str) -> list[str]:
    token = env("JUPYTER_TOKEN")
    if not token:
        print("daskyard: JUPYTER_TOKEN is not set (ECS injects it from Secrets Manager)",
              file=sys.stderr)
        raise SystemExit(EXIT_USAGE)
    # Client() with no argument reads dask config: the address and (use_tls) the TLS
    # material, all in the environment that Jupyter's kernels and terminals inherit.
    os.environ["DASK_SCHEDULER_ADDRESS"] = address
    # The kernels' `client.dashboard_link`, which JupyterLab's Dask pane finds: the
    # dashboard through this Jupyter server (as JupyterHub's `{prefix}proxy/8787/status`).
    os.environ["DASK_DISTRIBUTED__DASHBOARD__LINK"] = f"{OWN_DASHBOARD}status"
    jupyter_state()
    # Jupyter reads JUPYTER_TOKEN itself: the token is never on a command line.
    return ["jupyter", "lab", "--no-browser", "--port", str(NOTEBOOK_PORT),
            "--ip", host or "0.0.0.0",  # nosec B104  # the task's ENI; its security group limits access
            f"--ServerApp.root_dir={efs}", *root_option()]


def jupyter_state() -> Path:
    """Jupyter's and IPython's own folders (config, data, runtime, profiles and their
    startup files) in a new private folder of this task's (mkdtemp: 0700, a name nobody
    could guess or make beforehand), never on the drive nor under $HOME: both outlive
    the task, and Jupyter and IPython run what they find there (jupyter_*_config.py,
    kernel specs, IPython startup files). A file planted on a drive is data, not code
    the notebook runs; a local task leaves nothing in the machine user's home."""
    state = Path(tempfile.mkdtemp(prefix="daskyard-notebook-"))
    for name, folder in (("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"),
                         ("JUPYTER_RUNTIME_DIR", "runtime"), ("IPYTHONDIR", "ipython")):
        os.environ[name] = str(state / folder)
    # Jupyter serves the cluster's dashboard, and the Dask pane opens on it.
    settings = state / "lab-settings"
    write_json(state / "config" / "jupyter_server_config.json", {
        "ServerApp": {"jpserver_extensions": {jupyter_extension(): True}},
        "LabApp": {"app_settings_dir": str(settings)}})
    write_json(settings / "overrides.json",
               {"dask-labextension:plugin": {"defaultURL": OWN_DASHBOARD}})
    return state


def write_json(path: Path, value: object) -> None:
    path.parent.mkdir(mode=0o700, exist_ok=True)
    path.write_text(json.dumps(value))


def jupyter_extension() -> str:
    """The server extension that serves the dashboard (daskyard/jupyter.py): the image
    carries it as `daskyard_jupyter` (deploy/images.py); local mode runs the package's."""
    import importlib.util

    return "daskyard_jupyter" if importlib.util.find_spec("daskyard_jupyter") \
        else "daskyard.jupyter"


def root_option() -> list[str]:
    """Jupyter refuses to run as root. The image runs as uid 1000 and never needs this;
    local mode runs tasks as the machine's user, who may be root (a CI container), and
    says so with DASKYARD_ALLOW_ROOT. Both must hold: the variable alone changes nothing."""
    return ["--allow-root"] if env("DASKYARD_ALLOW_ROOT") == "1" and os.geteuid() == 0 else []


def health(role: str) -> int:
    """The container health check: 0 when the role answers on its port on this task's
    address (ECS runs it in the container; the local agent runs it beside the task)."""
    import urllib.request

    # The scheduler's HTTP server speaks HTTPS with the cluster's own certificate: its
    # own address is checked, not the certificate (the check holds no CA).
    url = {"scheduler": f"https://{{}}:{DASHBOARD_PORT}/health",
           "notebook": f"http://{{}}:{NOTEBOOK_PORT}/api"}.get(role)
    if url is None:
        print(f"usage: entrypoint.py health scheduler|notebook (not {role!r})", file=sys.stderr)
        return EXIT_USAGE
    own = ssl.create_default_context()
    own.check_hostname, own.verify_mode = False, ssl.CERT_NONE  # nosec B501  # this task's own address
    try:
        with urllib.request.urlopen(url.format(env("DASKYARD_HOST") or "127.0.0.1"),  # nosec B310  # a fixed URL on this task's own address
                                    timeout=4, context=own) as answer:
            return 0 if answer.status == 200 else 1
    except OSError as exc:
        print(f"daskyard: {role} not answering: {exc}", file=sys.stderr)
        return 1


def command(role: str) -> list[str]:
    host = env("DASKYARD_HOST")
    if role not in ("scheduler", "worker", "notebook"):
        print(f"usage: entrypoint.py scheduler|worker|notebook (not {role!r})", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)
    use_tls(role)
    if role == "scheduler":
        return scheduler_command(host)
    parameter = env("DASKYARD_SCHEDULER_PARAMETER")
    if not parameter:
        print("daskyard: DASKYARD_SCHEDULER_PARAMETER is not set", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)
    address = read_scheduler_address(parameter, float(env("DASKYARD_WAIT_SECONDS", "300")))
    print(f"daskyard: scheduler is {address}", file=sys.stderr, flush=True)
    if role == "worker":
        return worker_command(address, host) + bridge_worker_options()
    return notebook_command(address, host, env("DASKYARD_EFS", "/efs"))


def main(argv: list[str]) -> None:
    if len(argv) == 3 and argv[1] == "health":
        raise SystemExit(health(argv[2]))
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        raise SystemExit(EXIT_USAGE)
    cmd = command(argv[1])
    efs = env("DASKYARD_EFS", "/efs")
    if Path(efs).is_dir():
        os.chdir(efs)
    if argv[1] == "scheduler":
        run_scheduler(cmd)
    # Resolve `dask`/`jupyter` next to this interpreter first, then on PATH.
    local = Path(sys.executable).parent / cmd[0]
    os.execv(str(local), cmd) if local.exists() else os.execvp(cmd[0], cmd)  # nosec B606  # fixed argv from command(), no shell


if __name__ == "__main__":
    main(sys.argv)
