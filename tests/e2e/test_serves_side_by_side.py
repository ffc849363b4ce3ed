"""Two `daskyard serve --local` on two ports and `make demo` (`daskyard demo`) beside
them, each in its own process as a user runs them: every API keeps its own keys, the
CLI with no --api talks to the serve started last while it answers (then to the other),
and the demo computes on real dask processes, leaves nothing behind and, in its own data
directory, changes neither serve's keys. (One demo proves both: it is the costliest
process the suite starts.)"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from typer.testing import CliRunner

from daskyard import config, credentials
from daskyard.cli import app

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def user_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A user's environment with a data directory of its own, this tree's daskyard."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "DASKYARD_CREDENTIALS", "DASKYARD_API"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    yield {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200",
           "DASKYARD_DEATH_TIMEOUT": "15"}


def serve(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # nosec B603  # this interpreter, fixed arguments
        [sys.executable, "-m", "daskyard.cli", "serve", "--local", "--port", str(port),
         "--no-iam"], env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)


def served(url: str, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while credentials.load(url) is None or not credentials.answers(url):
        assert time.monotonic() < deadline, log.read_text()[-2000:]
        time.sleep(0.5)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def ls(*args: str) -> list[dict[str, object]]:
    result = CliRunner().invoke(app, ["ls", "-o", "json", *args])
    assert result.exit_code == 0, result.output
    return list(json.loads(result.stdout))


def assert_the_demo_computed_and_left_nothing(out: subprocess.CompletedProcess[str],
                                             home: Path) -> None:
    """`make demo`'s output: the groupby of its 200,000 rows on the workers, and nothing
    left in the emulator or running: no task process of a local mode under `home` (its
    data home: a task's TMPDIR is in its local mode's data directory; an entrypoint
    becomes the scheduler, the worker or Jupyter), whatever the suite's other workers
    run meanwhile."""
    assert out.returncode == 0, out.stdout + out.stderr
    rows = [line.split() for line in out.stdout.splitlines()
            if len(line.split()) == 3 and line.split()[0] in "ABCDEFGH"]
    assert [r[0] for r in rows] == list("ABCDEFGH")
    assert sum(int(r[1]) for r in rows) == 200_000
    assert all(19.5 < float(r[2]) < 20.5 for r in rows)
    assert "nothing left in the emulator; no task running" in out.stdout
    assert not [p for p in psutil.process_iter() if _under(p, home)]


def _under(process: psutil.Process, home: Path) -> bool:
    try:
        return process.environ().get("TMPDIR", "").startswith(str(home))
    except psutil.Error:  # gone meanwhile
        return False


def test_make_demo_computes_and_leaves_nothing_beside_two_serves_that_keep_their_keys(
        user_env: dict[str, str], tmp_path: Path) -> None:
    ports = free_port(), free_port()
    first_url, second_url = (f"http://127.0.0.1:{p}" for p in ports)
    first = serve(user_env, ports[0], tmp_path / "first.log")
    second: subprocess.Popen[bytes] | None = None
    try:
        served(first_url, tmp_path / "first.log")
        assert config.api_url() == first_url
        second = serve(user_env, ports[1], tmp_path / "second.log")
        served(second_url, tmp_path / "second.log")
        # Both keys kept; no --api: the serve started last.
        assert credentials.load(first_url) != credentials.load(second_url)
        assert config.api_url() == second_url
        ls()
        ls("--api", first_url)
        keys = {url: credentials.load(url) for url in (first_url, second_url)}
        # `make demo` beside them (its command, as the Makefile runs it): it computes and
        # leaves nothing, and both serves keep their keys.
        demo = subprocess.run([str(Path(sys.executable).parent / "daskyard"), "demo"],
                              env=user_env, capture_output=True, text=True, timeout=300)
        assert_the_demo_computed_and_left_nothing(demo, tmp_path)
        assert {url: credentials.load(url) for url in keys} == keys
        assert config.api_url() == second_url
        ls()
        ls("--api", first_url)
        # The last serve stops: its keys go, and the CLI finds the one still running.
        stop(second)
        assert credentials.load(second_url) is None
        assert config.api_url() == first_url
        ls()
    finally:
        for process in (first, second):
            if process is not None:
                stop(process)
