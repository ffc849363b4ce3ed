"""No task process outlives its local mode: `daskyard serve --local` killed with SIGKILL
(mid-create, and with a READY cluster) leaves nothing running, and the next start on
the data directory says what it reaped. Real `serve` processes, real dask tasks."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from daskyard import credentials
from daskyard.client import DaskyardApi
from daskyard.local.processes import (
    RUN_ENV,
    WATCH,
    Guard,
    Run,
    marked,
    reap,
    running,
    stop_signals,
)
from tests.support.waiting import eventually

REPO = Path(__file__).resolve().parents[2]
GONE_WITHIN = 10  # seconds: the bound


class Serve:
    """`python -m daskyard.cli serve --local` on a data directory of its own (this
    checkout's code, as `-m` puts the working directory first on the path)."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self.out = data / f"serve-{time.monotonic_ns()}.out"
        env = {**os.environ, "XDG_DATA_HOME": str(data), "COLUMNS": "250"}
        for name in ("AWS_ENDPOINT_URL", RUN_ENV):
            env.pop(name, None)
        self.keys = data / "keys.json"  # where the CLI is told to look, not the default
        env["DASKYARD_CREDENTIALS"] = str(self.keys)
        with open(self.out, "wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "daskyard.cli", "serve",
                                          "--local", "--port", "0"], cwd=REPO, env=env,
                                         stdout=out, stderr=subprocess.STDOUT)

    def text(self) -> str:
        return self.out.read_text()

    def api(self) -> DaskyardApi:
        def url() -> str | None:
            assert self.proc.poll() is None, self.text()
            found = re.search(r"API:\s+(\S+)", self.text())
            return found.group(1) if found else None

        api_url = eventually(url, 120, interval=0.1, what="serve's API line")
        keys = credentials.load(api_url, self.keys)  # the file holds one entry per API
        assert keys is not None, self.keys.read_text()
        assert not (self.data / "daskyard" / "credentials.json").exists()
        return DaskyardApi(api_url, local=keys)

    def run_id(self) -> str:
        runs = [Run.read(p) for p in (self.data / "daskyard" / "runs").glob("*.json")]
        return next(r.run for r in runs if r is not None and r.pid == self.proc.pid)

    def tasks(self) -> list[str]:
        """Its task processes' command lines (the entrypoints, dask once they exec)."""
        out = []
        for proc in marked(self.run_id()):
            try:
                out.append(" ".join(proc.cmdline()))
            except psutil.Error:
                continue
        return out

    def sigkill(self) -> tuple[list[psutil.Process], str]:
        """Everything it started (its whole tree) and its run id, then SIGKILL."""
        run = self.run_id()
        tree = psutil.Process(self.proc.pid).children(recursive=True)
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        return tree, run

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=60)


def left(tree: list[psutil.Process], run: str) -> list[str]:
    """What of a killed serve still runs: its tree, or anything carrying its run id."""
    return [str(p) for p in [*tree, *marked(run)] if running(p)]


@pytest.fixture
def serves(tmp_path: Path) -> Iterator[list[Serve]]:
    started: list[Serve] = []
    yield started
    for serve in started:
        serve.stop()


@pytest.mark.e2e
def test_sigkill_mid_create_or_when_ready_leaves_no_process_and_a_restart_reports(
        tmp_path: Path, serves: list[Serve]) -> None:
    serves.append(first := Serve(tmp_path))
    api = first.api()
    api.create({"name": "early", "workers": 1, "allowed_cidrs": ["127.0.0.0/8"]})

    # Mid-create: a task's process exists while the cluster is still CREATING (the
    # scheduler's, alone: workers start once the drive's mount targets are available).
    def mid_create() -> bool:
        lines = first.tasks()
        return bool(lines) and (all("scheduler" in line for line in lines)
                                or api.get("early")["status"] == "CREATING")

    eventually(mid_create, 120, interval=0.01, what="a task of a cluster being created")
    tree, run = first.sigkill()
    eventually(lambda: not left(tree, run), GONE_WITHIN, interval=0.1,
               what="no process of the killed serve (mid-create)")

    # The next start on the directory reaps the first run and says so.
    serves.append(second := Serve(tmp_path))
    api = second.api()
    report = " ".join(second.text().split())
    assert f"reaped the local mode of pid {first.proc.pid}" in report
    assert not (tmp_path / "daskyard" / "efs" / "early").exists()

    # With a READY cluster of real dask processes.
    api.create({"name": "ready", "workers": 1, "allowed_cidrs": ["127.0.0.0/8"]})
    assert api.wait("ready", {"READY", "FAILED"}, timeout=180)["status"] == "READY"
    eventually(lambda: len(second.tasks()) >= 2, 60, what="the scheduler and the worker")
    ready = tmp_path / "daskyard" / "efs" / "ready"  # its own drive, as a folder
    assert ready.is_dir()
    tree, run = second.sigkill()
    assert len(tree) >= 2
    eventually(lambda: not left(tree, run), GONE_WITHIN, interval=0.1,
               what="no process of the killed serve (READY)")
    serves.append(third := Serve(tmp_path))
    third.api()
    report = " ".join(third.text().split())
    assert f"reaped the local mode of pid {second.proc.pid}" in report
    assert f"removed 1 cluster folders ({ready})" in report and not ready.exists()


def test_a_sigterm_while_serve_is_busy_is_not_lost() -> None:
    """serve's wait (stop_signals): a SIGTERM that comes while the main
    thread is busy elsewhere (starting up, say) still ends the wait, at once."""
    before = signal.getsignal(signal.SIGTERM)
    with stop_signals() as stopped:
        os.kill(os.getpid(), signal.SIGTERM)  # handled before the wait begins
        sum(range(100_000))  # busy
        stopped()  # returns: the signal was kept for it
    assert signal.getsignal(signal.SIGTERM) is before


SLEEPER = "import time; time.sleep(300)"
SLEEPER_ARGV = [sys.executable, "-c", SLEEPER]
# A task that starts a process in a session of its own, as Jupyter starts its kernels:
# neither its process group nor a parent-death signal reaches that one.
DETACHING = ("import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', "
             f"{SLEEPER!r}], start_new_session=True); print('started', flush=True); "
             "time.sleep(300)")
GUARDED = ("import sys; from pathlib import Path; from daskyard.local.processes import Guard; "
           "g = Guard(Path(sys.argv[1])).start(); "
           f"t = g.spawn([sys.executable, '-c', {DETACHING!r}], env=dict(PATH=''), "
           "stdout=sys.stdout); sys.stdout.flush(); import time; time.sleep(300)")


def test_the_keeper_kills_what_escaped_the_process_group_when_its_mode_is_killed(
        tmp_path: Path) -> None:
    """A guarded process (the local mode's stand-in, a real Guard) starts a task that
    detaches a child into its own session; SIGKILL the guarded process: the keeper
    kills the task's detached child too."""
    proc = subprocess.Popen([sys.executable, "-c", GUARDED, str(tmp_path)], cwd=REPO,
                            stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"started"
        run = Run.read(next((tmp_path / "runs").glob("*.json")))
        assert run is not None
        detached = eventually(lambda: [p for p in marked(run.run)
                                       if SLEEPER in " ".join(p.cmdline())], 10)
        assert os.getsid(detached[0].pid) == detached[0].pid  # a session of its own
    finally:
        proc.kill()
        proc.wait()
    eventually(lambda: not marked(run.run), GONE_WITHIN, interval=0.1,
               what="the detached child killed by the keeper")
    # It notes what it killed, for the next start to report.
    ended = eventually(lambda: Run.read(next((tmp_path / "runs").glob("*.json"))), 10,
                       what="the run's file")
    eventually(lambda: (Run.read(tmp_path / "runs" / f"{run.run}.json") or ended).ended, 10,
               what="the keeper's note")
    noted = Run.read(tmp_path / "runs" / f"{run.run}.json")
    assert noted is not None and len(noted.killed) == 1, noted


def test_a_start_reaps_processes_of_a_run_whose_process_is_gone(tmp_path: Path) -> None:
    """The last line: the keeper was killed too. A run's file names a process that is
    gone; processes still carrying its id are killed by the next start, and reported."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    run = Run(run="deadbeef", pid=int(dead.stdout), started=time.time() - 60,
              folders=[str(tmp_path / "efs" / "gone")])
    (tmp_path / "efs" / "gone").mkdir(parents=True)
    (tmp_path / "runs").mkdir()
    run.write(tmp_path / "runs" / "deadbeef.json")
    survivor = subprocess.Popen([sys.executable, "-c", SLEEPER], start_new_session=True,
                                env={**os.environ, RUN_ENV: "deadbeef"})
    try:
        assert [p.pid for p in marked("deadbeef")] == [survivor.pid]
        reaped = reap(tmp_path)
        # (Reaping waits on what it kills: that reaps our child, whose code Popen loses.)
        assert not marked("deadbeef") and not psutil.pid_exists(survivor.pid)
    finally:
        if survivor.poll() is None:
            survivor.kill()
    assert len(reaped) == 1 and [k.split()[0] for k in reaped[0].killed] == [str(survivor.pid)]
    report = str(reaped[0])
    assert f"pid {run.pid}" in report and "killed 1 left running" in report
    assert "removed 1 cluster folders" in report and not (tmp_path / "efs" / "gone").exists()
    assert not (tmp_path / "runs" / "deadbeef.json").exists()
    # A live run's file is left alone.
    Guard(tmp_path).run.write(tmp_path / "runs" / "live.json")
    assert reap(tmp_path) == [] and (tmp_path / "runs" / "live.json").exists()


# A task whose child clears its environment and double-forks into a session of its own
# (`setsid` in a shell's background job that the shell leaves behind): no variable, no
# process group, no session and no parent of the task's reaches the sleeper.
ESCAPED = "sleep 3017"
ESCAPING = ("import subprocess, time; subprocess.run(['sh', '-c', 'setsid env -i "
            f"{ESCAPED} </dev/null >/dev/null 2>&1 &'], check=True); "
            "print('started', flush=True); time.sleep(300)")
GUARDED_ESCAPING = (
    "import os, sys; from pathlib import Path; from daskyard.local.processes import Guard; "
    "g = Guard(Path(sys.argv[1])).start(); "
    f"t = g.spawn([sys.executable, '-c', {ESCAPING!r}], env=dict(PATH=os.environ['PATH']), "
    "task='escaping', stdout=sys.stdout); sys.stdout.flush(); import time; time.sleep(300)")


def escaped(run: str, since: float) -> psutil.Process:
    """The task's double-forked sleeper (started after `since`), once it has detached:
    an empty environment, a session of its own, and not found by the run's variable."""

    def found() -> psutil.Process | None:
        for proc in psutil.process_iter(["cmdline", "create_time"]):
            if " ".join(proc.info["cmdline"] or []) == ESCAPED and \
                    proc.info["create_time"] >= since and \
                    not any(p.name() == "sh" for p in proc.parents()):
                return proc
        return None

    sleeper: psutil.Process = eventually(found, 10, interval=0.05, what="the escaped child")
    assert sleeper.environ() == {} and os.getsid(sleeper.pid) == sleeper.pid
    assert sleeper.pid not in [p.pid for p in marked(run)]
    return sleeper


def test_a_child_that_clears_its_environment_and_double_forks_is_killed_with_its_task(
        tmp_path: Path) -> None:
    """Stopped as local mode stops a task (its process group SIGTERMed, then
    `end_task`): the sleeper, re-parented to the task's first process (a subreaper)
    and seen in its tree, goes with it; then nothing of the run is left."""
    since = time.time() - 1
    guard = Guard(tmp_path).start()
    try:
        task = guard.spawn([sys.executable, "-c", ESCAPING],
                           env={"PATH": os.environ["PATH"]}, task="escaping",
                           stdout=subprocess.PIPE)
        assert task.stdout is not None and task.stdout.readline().strip() == b"started"
        sleeper = escaped(guard.run.run, since)
        assert sleeper.ppid() == task.pid  # the subreaper kept it below the task
        eventually(lambda: sleeper.pid in guard.tree.seen, 10, what="a look at the tree")
        os.killpg(task.pid, signal.SIGTERM)
        task.wait(timeout=10)
        assert running(sleeper)  # the group's signal did not reach it
        killed = guard.end_task("escaping")
        assert [k.split()[0] for k in killed] == [str(sleeper.pid)]
        assert not running(sleeper)
        assert guard.tasks() == {}
    finally:
        guard.close()


def test_the_keeper_kills_a_child_that_cleared_its_environment_and_double_forked(
        tmp_path: Path) -> None:
    """SIGKILL the guarded process (local mode's stand-in, a real Guard): the task's
    first process dies by its parent-death signal, the sleeper goes to init, and the
    keeper, which saw it in the task's tree, kills it."""
    since = time.time() - 1
    proc = subprocess.Popen([sys.executable, "-c", GUARDED_ESCAPING, str(tmp_path)],
                            cwd=REPO, stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"started"
        run = Run.read(next((tmp_path / "runs").glob("*.json")))
        assert run is not None and list(run.tasks) == ["escaping"]
        sleeper = escaped(run.run, since)
        time.sleep(3 * WATCH)  # the keeper has looked at the tree since
    finally:
        proc.kill()
        proc.wait()
    eventually(lambda: not running(sleeper), GONE_WITHIN, interval=0.1,
               what="the escaped child killed by the keeper")
    noted = eventually(lambda: (r := Run.read(tmp_path / "runs" / f"{run.run}.json"))
                       and r.ended and r, 10, what="the keeper's note")
    assert str(sleeper.pid) in " ".join(noted.killed)


def test_a_start_reaps_what_is_left_in_a_dead_runs_sessions(tmp_path: Path) -> None:
    """The keeper was killed too: the next start finds the dead run's task sessions in
    its file, and kills their members though they carry no variable."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    survivor = subprocess.Popen(["env", "-i", *SLEEPER_ARGV], start_new_session=True)
    try:
        created = psutil.Process(survivor.pid).create_time()
        run = Run(run="cafef00d", pid=int(dead.stdout), started=time.time() - 60,
                  tasks={"t": [survivor.pid, created]})
        (tmp_path / "runs").mkdir()
        run.write(tmp_path / "runs" / "cafef00d.json")
        reaped = reap(tmp_path)
        assert not psutil.pid_exists(survivor.pid) or not running(psutil.Process(survivor.pid))
    finally:
        if survivor.poll() is None:
            survivor.kill()
    assert [k.split()[0] for k in reaped[0].killed] == [str(survivor.pid)]
    # A session whose first process is another one now (a reused pid) is left alone.
    other = subprocess.Popen(SLEEPER_ARGV, start_new_session=True)
    try:
        Run(run="0ddba11", pid=int(dead.stdout), started=time.time() - 60,
            tasks={"t": [other.pid, time.time() - 30]}).write(tmp_path / "runs" / "x.json")
        assert reap(tmp_path)[0].killed == [] and other.poll() is None
    finally:
        other.kill()
        other.wait()
