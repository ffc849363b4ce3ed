"""No task process outlives its local mode, however that ends (SIGKILL included).

Three lines of defence, each covering what the one before cannot:
1. Every task process is started with a parent-death signal (Linux `prctl
   PR_SET_PDEATHSIG`): when the local mode's process dies, the kernel kills the task's
   first process. The signal fires when the *thread* that forked the child ends, so all
   tasks are forked by one thread that lives as long as the process (`_SPAWNER`).
2. Every task carries the run's id in its environment (`DASKYARD_LOCAL_RUN`), which its
   children inherit: dask's nanny forks the worker, Jupyter starts kernels in sessions of
   their own, so neither a process group nor a parent-death signal reaches them all. A
   keeper process, started beside the local mode in a session of its own, holds the
   read end of a pipe whose write end only the local mode holds: when the local mode
   ends in any way the pipe closes, and the keeper kills every process carrying the
   run's id, then writes what it killed into the run's file.
3. The run's file (`runs/<run id>.json` in the data directory) names the local mode's
   process. The next local mode started on that directory finds runs whose process is
   gone, kills whatever still carries their id (the keeper may have been killed too),
   and says what it reaped.

This file imports nothing of daskyard: the keeper runs it as a script."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess  # nosec B404  # starts this interpreter and the tasks' fixed argv
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

RUN_ENV = "DASKYARD_LOCAL_RUN"
TASK_ENV = "DASKYARD_LOCAL_TASK"
RUNS = "runs"
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
# One thread forks every task, and never ends before the process (see line 1 above).
_SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="task-spawner")


def _prctl() -> Callable[..., int] | None:
    """libc's prctl, looked up before any fork (a lookup in the child could deadlock)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
        return prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _prctl()


def _die_with(parent: int) -> Callable[[], None]:
    """A preexec_fn: SIGKILL this child when its parent dies; if the parent died before
    the call, exit now (the signal would never come)."""

    def preexec() -> None:
        if _PRCTL is not None:
            _PRCTL(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)

    return preexec


def marked(run: str, task: str | None = None) -> list[psutil.Process]:
    """This user's processes carrying run id `run` (and task id `task`, if given) in
    their environment, this one excepted."""
    found = []
    me = os.getpid()
    for proc in psutil.process_iter(["pid"]):
        if proc.pid == me:
            continue
        with contextlib.suppress(psutil.Error):
            env = proc.environ()
            if env.get(RUN_ENV) == run and (task is None or env.get(TASK_ENV) == task):
                found.append(proc)
    return found


def running(proc: psutil.Process) -> bool:
    """Alive and not a zombie (a process may end between any two looks)."""
    try:
        return bool(proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def describe(proc: psutil.Process) -> str:
    with contextlib.suppress(psutil.Error):
        words = [Path(w).name if i == 0 or w.endswith(".py") else w
                 for i, w in enumerate(proc.cmdline()[:4])]
        return f"{proc.pid} ({' '.join(words)})"
    return str(proc.pid)


def kill_run(run: str, within: float = 10, task: str | None = None) -> list[str]:
    """SIGKILL every process of run `run` (of its task `task`, if given), again until
    none is left (a parent may fork between two looks), for up to `within` s. Returns
    what was killed."""
    killed: list[str] = []
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        procs = [p for p in marked(run, task) if running(p)]
        if not procs:
            break
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                killed.append(describe(proc))
                proc.kill()
        psutil.wait_procs(procs, timeout=1)
    return killed


@dataclass
class Run:
    """What the run's file holds: whose run it is, and what it left to clean up."""

    run: str
    pid: int
    started: float  # the process's create time: a pid alone may be reused
    folders: list[str] = field(default_factory=list)  # removed if the run is reaped
    ended: float = 0.0
    killed: list[str] = field(default_factory=list)  # by the keeper, when the run ended

    @classmethod
    def read(cls, path: Path) -> Run | None:
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def write(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self)))
        tmp.replace(path)

    def alive(self) -> bool:
        try:
            return bool(abs(psutil.Process(self.pid).create_time() - self.started) < 1)
        except psutil.Error:
            return False


@dataclass
class Reaped:
    run: Run
    killed: list[str]
    removed: list[str]

    def __str__(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.run.started))
        parts = [f"reaped the local mode of pid {self.run.pid} (started {when}), "
                 "which ended without stopping:"]
        if self.run.killed:
            parts.append(f"its keeper killed {len(self.run.killed)} task processes "
                         f"({', '.join(self.run.killed)});")
        if self.killed:
            parts.append(f"killed {len(self.killed)} left running ({', '.join(self.killed)});")
        if not self.run.killed and not self.killed:
            parts.append("no task process was left;")
        parts.append(f"removed {len(self.removed)} cluster folders"
                     + (f" ({', '.join(self.removed)})" if self.removed else ""))
        return " ".join(parts)


def reap(root: Path) -> list[Reaped]:
    """Clean up after every local mode on `root` whose process is gone: kill what still
    carries its id, remove its clusters' folders, drop its file."""
    out = []
    for path in sorted((root / RUNS).glob("*.json")):
        run = Run.read(path)
        if run is None or run.alive():
            continue
        killed = kill_run(run.run)
        removed = []
        for folder in run.folders:
            if Path(folder).is_dir():
                remove_tree(Path(folder))
                removed.append(folder)
        path.unlink(missing_ok=True)
        out.append(Reaped(run, killed, removed))
    return out


def remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


class Guard:
    """One local mode's run: its file, its keeper, and the processes it starts."""

    def __init__(self, root: Path) -> None:
        self.root = root
        me = psutil.Process()
        self.run = Run(run=uuid.uuid4().hex, pid=me.pid, started=me.create_time())
        self.path = root / RUNS / f"{self.run.run}.json"
        self._keeper: subprocess.Popen[bytes] | None = None
        self._pipe = -1

    def start(self) -> Guard:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.run.write(self.path)
        read, self._pipe = os.pipe()  # neither end is inherited by the tasks
        try:
            # A session of its own: the terminal's signals and a kill of our process
            # group do not reach it. Not a task: it must outlive us, so no death signal.
            self._keeper = subprocess.Popen(  # nosec B603  # this interpreter, this file
                [sys.executable, "-P", str(Path(__file__).resolve()), "keep", str(self.path)],
                stdin=read, start_new_session=True, env=_without_run(os.environ))
        finally:
            os.close(read)
        return self

    def spawn(self, argv: Sequence[str], env: dict[str, str], task: str = "",
              **kwargs: Any) -> subprocess.Popen[bytes]:
        """Start a task process: a session (and process group) of its own, the run's and
        the task's ids in its environment, SIGKILL when this process dies."""
        full = {**env, RUN_ENV: self.run.run, TASK_ENV: task}
        preexec = _die_with(os.getpid())

        def popen() -> subprocess.Popen[bytes]:
            return subprocess.Popen(list(argv), env=full, start_new_session=True,  # nosec B603  # the agent's fixed argv
                                    preexec_fn=preexec, **kwargs)  # the death signal: prctl only

        return _SPAWNER.submit(popen).result()

    def end_task(self, task: str) -> list[str]:
        """Kill what is left of a task whose first process ended: as ECS stops every
        container of a stopped task, nothing of it runs on (a Jupyter kernel, say, in a
        session of its own)."""
        return kill_run(self.run.run, within=5, task=task) if task else []

    def keep_folder(self, folder: Path) -> None:
        """A folder to remove if this run is reaped (a cluster's own drive)."""
        if str(folder) not in self.run.folders:
            self.run.folders.append(str(folder))
            self.run.write(self.path)

    def drop_folder(self, folder: Path) -> None:
        if str(folder) in self.run.folders:
            self.run.folders.remove(str(folder))
            self.run.write(self.path)

    def close(self) -> None:
        """A clean stop: the keeper is told (the pipe closes), finds nothing of ours left
        once the tasks were stopped, and the run's file goes."""
        if self._pipe >= 0:
            os.close(self._pipe)
            self._pipe = -1
        if self._keeper is not None:
            try:
                self._keeper.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._keeper.kill()
                self._keeper.wait()
            self._keeper = None
        self.path.unlink(missing_ok=True)


@contextlib.contextmanager
def stop_signals() -> Iterator[Callable[[], None]]:
    """Yields a function that returns once SIGTERM, SIGINT or SIGHUP has arrived, at any
    time since entering: the C-level handler writes the signal to a pipe at once
    (signal.set_wakeup_fd), so none is lost however busy the main thread was. (Setting an
    Event from a Python handler could deadlock on the Event's own lock, held by the
    main thread inside `wait`: a SIGTERM lost.)"""
    read, write = os.pipe()
    os.set_blocking(write, False)
    previous = {sig: signal.signal(sig, lambda *_: None)
                for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    old_fd = signal.set_wakeup_fd(write)

    def stopped() -> None:
        os.read(read, 1)

    try:
        yield stopped
    finally:
        signal.set_wakeup_fd(old_fd)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        os.close(read)
        os.close(write)


def _without_run(env: Any) -> dict[str, str]:
    return {k: v for k, v in env.items() if k != RUN_ENV}


def keep(path: Path) -> None:
    """The keeper: wait for the local mode to end (its pipe, our stdin, closes), then kill
    what it left and note it in the run's file for the next start to report."""
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    run = Run.read(path)
    if run is None:
        return
    while os.read(0, 4096):  # nothing is ever written: this returns b"" when it closes
        pass
    killed = kill_run(run.run)
    latest = Run.read(path)
    if latest is not None and (killed or latest.folders):  # a clean stop removes the file
        latest.ended, latest.killed = time.time(), killed
        latest.write(path)


if __name__ == "__main__" and sys.argv[1:2] == ["keep"]:
    keep(Path(sys.argv[2]))
