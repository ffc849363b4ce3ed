"""The awslogs log driver, locally: each task's output (stdout and stderr, one pipe) goes
to the emulator's CloudWatch Logs under the group and stream its task definition names,
`<awslogs-stream-prefix>/<container name>/<task id>`, as ECS sends it. So one reader
(chalicelib/logs.py) serves AWS and local mode alike.

One thread reads every task's pipe as soon as there is output (a task never blocks on
a full pipe) and sends what it read at most every `interval` seconds, in batches."""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

log = logging.getLogger("daskyard.local")
MAX_BATCH = 1000  # events per PutLogEvents (AWS takes 10,000 or 1 MB)
MAX_MESSAGE = 64 * 1024  # longer lines are cut (AWS takes 256 KB per event)


def stream_of(container: dict[str, Any], task_id: str) -> tuple[str, str] | None:
    """(group, stream) from a container definition's awslogs configuration, else None."""
    config = container.get("logConfiguration") or {}
    options = config.get("options") or {}
    if config.get("logDriver") != "awslogs" or "awslogs-group" not in options:
        return None
    prefix = options.get("awslogs-stream-prefix")
    name = f"{prefix}/{container['name']}/{task_id}" if prefix else task_id
    return options["awslogs-group"], name


@dataclass
class Stream:
    group: str
    name: str
    fd: int
    pending: list[dict[str, Any]] = field(default_factory=list)
    partial: bytes = b""
    closed: bool = False  # the task's end of the pipe closed: all its output was read
    done: threading.Event = field(default_factory=threading.Event)  # ...and sent


class AwsLogs:
    def __init__(self, logs: Callable[[], Any], interval: float = 0.2) -> None:
        self.logs = logs  # the emulator's CloudWatch Logs client, looked up when sending
        self.interval = interval
        self._selector = selectors.DefaultSelector()
        self._streams: dict[int, Stream] = {}
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._wake_r, self._wake_w = os.pipe()
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._thread = threading.Thread(target=self._loop, name="awslogs", daemon=True)
        self._thread.start()

    def attach(self, fd: int, group: str, name: str) -> Stream:
        """Send what is read from `fd` (ours from now on) to `group`/`name`."""
        if group:  # else the output is read and dropped, as with no log driver
            with contextlib.suppress(ClientError):  # exists already: a retried start
                self.logs().create_log_stream(logGroupName=group, logStreamName=name)
        stream = Stream(group, name, fd)
        with self._lock:
            self._streams[fd] = stream
            self._selector.register(fd, selectors.EVENT_READ, stream)
        os.write(self._wake_w, b"x")
        return stream

    def drain(self, stream: Stream, timeout: float = 5) -> None:
        """Wait until all of an ended task's output is sent (before its STOPPED event,
        whose readers look for its last lines)."""
        stream.done.wait(timeout)

    def close(self) -> None:
        with self._lock:
            streams = list(self._streams.values())
        for stream in streams:
            self._drop(stream)
        os.close(self._wake_w)
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        last = time.monotonic()
        while True:
            try:
                ready = self._selector.select(self.interval)
            except (OSError, ValueError):  # closed under us: stopping
                return
            for key, _ in ready:
                if key.fd == self._wake_r:
                    if not os.read(self._wake_r, 4096):
                        self._selector.close()
                        return
                    continue
                self._read(key.data)
            if time.monotonic() - last >= self.interval or any(
                    s.closed for s in list(self._streams.values())):
                self._send_all()
                last = time.monotonic()

    def _read(self, stream: Stream) -> None:
        try:
            data = os.read(stream.fd, 65536)
        except OSError:
            data = b""
        now = int(time.time() * 1000)
        if not data:
            stream.closed = True
            data, stream.partial = stream.partial + (b"\n" if stream.partial else b""), b""
        *lines, stream.partial = (stream.partial + data).split(b"\n")
        stream.pending.extend(
            {"timestamp": now, "message": text[:MAX_MESSAGE]}
            for text in (line.decode(errors="replace").rstrip("\r") for line in lines)
            if text)  # CloudWatch takes no empty event

    def _send_all(self) -> None:
        with self._lock:
            streams = list(self._streams.values())
        for stream in streams:
            self._send(stream)
            if stream.closed:
                self._drop(stream)

    def _send(self, stream: Stream) -> None:
        with self._send_lock:
            if not stream.group:
                stream.pending.clear()
            while stream.pending:
                batch, stream.pending = stream.pending[:MAX_BATCH], stream.pending[MAX_BATCH:]
                try:
                    self.logs().put_log_events(logGroupName=stream.group,
                                               logStreamName=stream.name, logEvents=batch)
                except Exception as exc:  # group deleted with its cluster, emulator reset
                    log.debug("awslogs: %s/%s dropped %d lines: %s", stream.group,
                              stream.name, len(batch), exc)

    def _drop(self, stream: Stream) -> None:
        with self._lock:
            if self._streams.pop(stream.fd, None) is None:
                return
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(stream.fd)
        os.close(stream.fd)
        stream.done.set()
