"""The keys `daskyard serve --local` writes for its admin user, and where the CLI and
`DaskyardCluster` find them: `$DASKYARD_CREDENTIALS`, else `credentials.json` in the
local data directory. The file (mode 0600) holds one entry per local API URL, so two
serves on two ports, and a `daskyard demo` beside them, each keep their own keys; and
it names the API `serve` last started, which the CLI and `DaskyardCluster` talk to when
told no other and it still answers. Keys sign requests to their own API URL only."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

FILE = "credentials.json"


def data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "daskyard"


def default_path() -> Path:
    return Path(os.environ.get("DASKYARD_CREDENTIALS") or data_dir() / FILE)


def _key(api_url: str) -> str:
    return api_url.rstrip("/")


@dataclass(frozen=True)
class LocalCredentials:
    api_url: str
    access_key_id: str
    secret_access_key: str
    arn: str
    region: str = "us-east-1"
    data_dir: str = ""  # that local mode's data directory: where its drives are folders
    written_at: float = field(default=0.0, compare=False)

    def __repr__(self) -> str:  # never print the secret key
        return f"LocalCredentials(api_url={self.api_url!r}, arn={self.arn!r})"

    def write(self, path: Path, latest: bool = True) -> Path:
        """Add (or replace) this API's entry, keeping the others'; `latest`: the API to
        talk to when none is named (a `serve`, not a demo's own API)."""
        with _locked(path) as entries:
            url = _key(self.api_url)
            entries["apis"][url] = {**asdict(self), "written_at": time.time()}
            entries["served"] = [u for u in entries["served"] if u != url] + \
                ([url] if latest else [])
        return path


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[dict[str, Any]]:
    """The entries, to change under an exclusive lock (serves and demos write at once),
    then written atomically, readable by this user only from the first byte."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = path.with_name(path.name + ".lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        entries = _read(path)
        yield entries
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.unlink(missing_ok=True)
        out_fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(out_fd, "w") as out:
            json.dump(entries, out)
        tmp.replace(path)
    finally:
        os.close(fd)  # releases the lock


def _read(path: Path) -> dict[str, Any]:
    """{"apis": {url: keys}, "served": [url, ...]}, the serves' APIs oldest first; a
    file of one API's keys (as written before entries per API) reads as that entry."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        data = {}
    if not isinstance(data, dict):
        data = {}
    if "api_url" in data:  # the earlier format
        url = _key(str(data["api_url"]))
        return {"apis": {url: data}, "served": [url]}
    return {"apis": dict(data.get("apis") or {}), "served": list(data.get("served") or [])}


def _entry(data: Any) -> LocalCredentials | None:
    try:
        return LocalCredentials(**data)
    except TypeError:
        return None


def load(api_url: str, path: Path | None = None) -> LocalCredentials | None:
    """The local admin's keys if they were written for `api_url`, else None."""
    found = _read(path or default_path())["apis"].get(_key(api_url))
    return _entry(found) if found is not None else None


def forget(api_url: str, path: Path | None = None) -> None:
    """Remove an API's entry (its local mode stopped), keeping the others'."""
    path = path or default_path()
    if not path.exists():
        return
    with _locked(path) as entries:
        entries["apis"].pop(_key(api_url), None)
        entries["served"] = [u for u in entries["served"] if u != _key(api_url)]


def answers(api_url: str, timeout: float = 0.5) -> bool:
    """Whether something listens at the API's address (a stopped serve's does not)."""
    parsed = urlparse(api_url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        socket.create_connection((parsed.hostname, port), timeout=timeout).close()
    except OSError:
        return False
    return True


def running_api(path: Path | None = None) -> str | None:
    """The local API to talk to when none is named: the one `serve` last wrote if it
    still answers, else the latest earlier serve's that does (never a demo's own)."""
    entries = _read(path or default_path())
    return next((url for url in reversed(entries["served"])
                 if url in entries["apis"] and answers(url)), None)
