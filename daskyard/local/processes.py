"""No task process outlives its local mode, however that ends (SIGKILL included).

Three lines of defence, each covering what the one before cannot:
1. Every task process is started with a parent-death signal (Linux `prctl
   PR_SET_PDEATHSIG`): when the local mode's process dies, the kernel kills the task's
   first process. The signal fires when the *thread* that forked the child ends, so all
   tasks are forked by one thread that lives as long as the process (`_SPAWNER`).
2. A task's processes are found without trusting them: dask's nanny forks the worker,
   Jupyter starts kernels in sessions of their own, and any child may clear its
   environment and double-fork, so neither a process group, a parent-death signal nor
   an environment variable reaches them all. So each task's first process is a child
   subreaper (`PR_SET_CHILD_SUBREAPER`, kept across exec): whatever its descendants
   orphan is re-parented to it, not to init, and its process tree is the whole task.
   Each task is a session of its own, whose id the run's file records. The local mode's
   process is a subreaper too (what a task's first process leaves when it ends comes to
   it), and looks at its tasks' trees every WATCH seconds: a process seen in a task's
   tree or session stays the task's, whatever it does after (`Tree`). Every task also
   carries the run's id in its environment (`DASKYARD_LOCAL_RUN`), for what a task
   started before the last look. A keeper process, started beside the local mode in a
   session of its own, looks at the same trees and sessions every WATCH seconds, and
   holds the read end of a pipe whose write end only the local mode holds: when the
   local mode ends in any way the pipe closes, and the keeper kills every process of
   the run's tasks (seen in their trees, in their sessions, or carrying the run's id),
   then writes what it killed into the run's file.
3. The run's file (`runs/<run id>.json` in the data directory) names the local mode's
   process. The next local mode started on that directory finds runs whose process is
   gone, kills whatever is left of them (by sessions and the run's id: their trees went
   with their processes; the keeper may have been killed too), and says what it reaped.

This file imports nothing of daskyard: the keeper runs it as a script."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import select
import signal
import subprocess  # nosec B404  # starts this interpreter and the tasks' fixed argv
import sys
import threading
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
PR_SET_CHILD_SUBREAPER = 36
# Seconds between two looks at the tasks' trees (the guard's and the keeper's): what a
# task starts and orphans within the last one is found by its session or environment.
WATCH = 0.5
# A process is the one seen if its create time is this close (a pid may be reused).
SAME_PROCESS = 0.1
# task id -> [its session's id (the task's first process), that process's create time]
Tasks = dict[str, list[float]]
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
    the call, exit now (the signal would never come). The child is a subreaper: what
    its descendants orphan stays below it."""

    def preexec() -> None:
        if _PRCTL is not None:
            _PRCTL(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            _PRCTL(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)

    return preexec


def _subreaper(on: bool) -> None:
    if _PRCTL is not None:
        _PRCTL(PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0)


def _session(pid: int) -> int:
    try:
        return os.getsid(pid)
    except OSError:
        return -1


def _created(proc: psutil.Process) -> float | None:
    try:
        return float(proc.create_time())
    except psutil.Error:
        return None


def members(tasks: Tasks) -> dict[int, tuple[float, str]]:
    """Every process of these tasks now, by pid: (its create time, its task). A task's
    processes are its first process's descendants (a subreaper: what they orphan stays
    below it) and its session's members (they outlive it). One look at the process
    table for all tasks. This process excepted."""
    if not tasks:
        return {}
    table: dict[int, tuple[int, float, int]] = {}  # pid -> (parent, created, session)
    for proc in psutil.process_iter(["ppid", "create_time"]):
        parent, created = proc.info["ppid"], proc.info["create_time"]
        if parent is not None and created is not None:
            table[proc.pid] = (int(parent), float(created), _session(proc.pid))
    children: dict[int, list[int]] = {}
    for pid, (parent, _, _) in table.items():
        children.setdefault(parent, []).append(pid)
    found: dict[int, tuple[float, str]] = {}
    sessions: dict[int, tuple[str, float]] = {}
    for task, (sid_, started) in tasks.items():
        sid = int(sid_)
        if sid in table:
            if abs(table[sid][1] - started) >= SAME_PROCESS:
                continue  # the pid is another process's now: so is any session of it
            below = [sid]
            while below:
                pid = below.pop()
                found[pid] = (table[pid][1], task)
                below.extend(children.get(pid, []))
        sessions[sid] = (task, started)
    for pid, (_, created, sid) in table.items():
        # (A process older than the task's first one is of an earlier session.)
        if sid in sessions and created >= sessions[sid][1] - SAME_PROCESS:
            found[pid] = (created, sessions[sid][0])
    found.pop(os.getpid(), None)
    return found


class Tree:
    """The processes seen in a run's tasks (`members`): a process stays its task's
    while it runs, however it detaches after (a session, an empty environment, a
    double fork)."""

    def __init__(self) -> None:
        self.seen: dict[int, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def look(self, tasks: Tasks) -> None:
        now = members(tasks)
        self.processes()  # forget those that ended
        with self._lock:
            self.seen.update(now)

    def processes(self, task: str | None = None) -> list[psutil.Process]:
        """Those seen (of `task`, if given) that still run; the others are forgotten."""
        out = []
        with self._lock:
            for pid, (created, of) in list(self.seen.items()):
                try:
                    proc = psutil.Process(pid)
                    same = abs(proc.create_time() - created) < SAME_PROCESS
                except psutil.Error:
                    same = False
                if not same:
                    del self.seen[pid]
                elif task is None or of == task:
                    out.append(proc)
        return out


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


def of_run(run: str, task: str | None = None, tasks: Tasks | None = None,
           tree: Tree | None = None) -> list[psutil.Process]:
    """The running processes of run `run` (of its task `task`, if given): those seen in
    its tasks' trees (`tree`), its tasks' trees and sessions now (`tasks`), those
    carrying its id, and every descendant of these. This process excepted."""
    chosen = {t: v for t, v in (tasks or {}).items() if task is None or t == task}
    found = {p.pid: p for p in [*marked(run, task), *(tree.processes(task) if tree else [])]}
    for pid in members(chosen):
        with contextlib.suppress(psutil.Error):
            found.setdefault(pid, psutil.Process(pid))
    for proc in list(found.values()):
        with contextlib.suppress(psutil.Error):
            for child in proc.children(recursive=True):
                found.setdefault(child.pid, child)
    found.pop(os.getpid(), None)
    return [p for p in found.values() if running(p)]


def kill_run(run: str, within: float = 10, task: str | None = None,
             tasks: Tasks | None = None, tree: Tree | None = None) -> list[str]:
    """SIGKILL every process of run `run` (of its task `task`, if given; see `of_run`),
    again until none is left (a parent may fork between two looks), for up to `within`
    s. Returns what was killed."""
    killed: list[str] = []
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        procs = of_run(run, task, tasks, tree)
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
    tasks: Tasks = field(default_factory=dict)  # running tasks' sessions (see Tasks)

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
        killed = kill_run(run.run, tasks=run.tasks)
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
        self.tree = Tree()  # what has been seen of the tasks (WATCH)
        self._lock = threading.Lock()  # self.run, written by spawns, read by the watch
        self._leaders: set[int] = set()  # the tasks' first processes: Popen reaps them
        self._closed = threading.Event()
        self._watch: threading.Thread | None = None

    def start(self) -> Guard:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.run.write(self.path)
        # What a task's first process leaves when it ends comes here, not to init.
        _subreaper(True)
        read, self._pipe = os.pipe()  # neither end is inherited by the tasks
        try:
            # A session of its own: the terminal's signals and a kill of our process
            # group do not reach it. Not a task: it must outlive us, so no death signal.
            self._keeper = subprocess.Popen(  # nosec B603  # this interpreter, this file
                [sys.executable, "-P", str(Path(__file__).resolve()), "keep", str(self.path)],
                stdin=read, start_new_session=True, env=_without_run(os.environ))
        finally:
            os.close(read)
        self._watch = threading.Thread(target=self._watching, name="task-watch", daemon=True)
        self._watch.start()
        return self

    def tasks(self) -> Tasks:
        with self._lock:
            return {task: list(v) for task, v in self.run.tasks.items()}

    def _watching(self) -> None:
        """Every WATCH s: look at the tasks' trees, and reap what was adopted from them
        and has ended (a subreaper's orphans are its to wait for; a task's first
        process is its Popen's)."""
        while not self._closed.wait(WATCH):
            with contextlib.suppress(psutil.Error, OSError):
                self.tree.look(self.tasks())
                for child in psutil.Process().children():
                    if child.pid in self.tree.seen and child.pid not in self._leaders \
                            and child.status() == psutil.STATUS_ZOMBIE:
                        os.waitpid(child.pid, os.WNOHANG)

    def spawn(self, argv: Sequence[str], env: dict[str, str], task: str = "",
              **kwargs: Any) -> subprocess.Popen[bytes]:
        """Start a task process: a session (and process group) of its own, the run's and
        the task's ids in its environment, SIGKILL when this process dies."""
        full = {**env, RUN_ENV: self.run.run, TASK_ENV: task}
        preexec = _die_with(os.getpid())

        def popen() -> subprocess.Popen[bytes]:
            return subprocess.Popen(list(argv), env=full, start_new_session=True,  # nosec B603  # the agent's fixed argv
                                    preexec_fn=preexec, **kwargs)  # the death signal: prctl only

        proc = _SPAWNER.submit(popen).result()
        # Its session is its own (its pid): the keeper and the next start find it so.
        created = None
        with contextlib.suppress(psutil.Error):  # it may have ended already
            created = _created(psutil.Process(proc.pid))
        with self._lock:
            self._leaders.add(proc.pid)
            self.run.tasks[task or f"pid-{proc.pid}"] = [proc.pid, created or time.time()]
            self.run.write(self.path)
        return proc

    def end_task(self, task: str) -> list[str]:
        """Kill what is left of a task whose first process ended: as ECS stops every
        container of a stopped task, nothing of it runs on (a Jupyter kernel, say, in a
        session of its own; a child that cleared its environment and double-forked)."""
        if not task:
            return []
        tasks = {t: v for t, v in self.tasks().items() if t == task}
        killed = kill_run(self.run.run, within=5, task=task, tasks=tasks, tree=self.tree)
        with self._lock:
            if task in self.run.tasks:
                self._leaders.discard(int(self.run.tasks.pop(task)[0]))
                self.run.write(self.path)
        return killed

    def keep_folder(self, folder: Path) -> None:
        """A folder to remove if this run is reaped (a cluster's own drive)."""
        with self._lock:
            if str(folder) not in self.run.folders:
                self.run.folders.append(str(folder))
                self.run.write(self.path)

    def drop_folder(self, folder: Path) -> None:
        with self._lock:
            if str(folder) in self.run.folders:
                self.run.folders.remove(str(folder))
                self.run.write(self.path)

    def close(self) -> None:
        """A clean stop: the keeper is told (the pipe closes), finds nothing of ours left
        once the tasks were stopped, and the run's file goes."""
        self._closed.set()
        if self._watch is not None:
            self._watch.join()
            self._watch = None
        _subreaper(False)
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
    tree = Tree()
    while True:  # nothing is ever written: stdin reads b"" when the local mode ends
        readable, _, _ = select.select([0], [], [], WATCH)
        if readable and not os.read(0, 4096):
            break
        run = Run.read(path) or run  # its tasks as they are now
        with contextlib.suppress(psutil.Error, OSError):
            tree.look(run.tasks)
    killed = kill_run(run.run, tasks=(Run.read(path) or run).tasks, tree=tree)
    latest = Run.read(path)
    if latest is not None and (killed or latest.folders):  # a clean stop removes the file
        latest.ended, latest.killed = time.time(), killed
        latest.write(path)


if __name__ == "__main__" and sys.argv[1:2] == ["keep"]:
    keep(Path(sys.argv[2]))
