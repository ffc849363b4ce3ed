"""The keys `daskyard serve --local` writes for its admin user, and where the CLI and
`DaskyardCluster` find them: `$DASKYARD_CREDENTIALS`, else `credentials.json` in the
local data directory. The file is written with mode 0600 and holds one emulator's keys;
they sign requests to the API URL written beside them, and nothing else."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

FILE = "credentials.json"


def data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "daskyard"


def default_path() -> Path:
    return Path(os.environ.get("DASKYARD_CREDENTIALS") or data_dir() / FILE)


@dataclass(frozen=True)
class LocalCredentials:
    api_url: str
    access_key_id: str
    secret_access_key: str
    arn: str
    region: str = "us-east-1"

    def __repr__(self) -> str:  # never print the secret key
        return f"LocalCredentials(api_url={self.api_url!r}, arn={self.arn!r})"

    def write(self, path: Path) -> Path:
        """Write atomically, readable by this user only from the first byte."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(asdict(self), out)
        tmp.replace(path)
        return path


def load(api_url: str, path: Path | None = None) -> LocalCredentials | None:
    """The local admin's keys if they were written for `api_url`, else None."""
    path = path or default_path()
    try:
        data = json.loads(path.read_text())
        found = LocalCredentials(**data)
    except (OSError, ValueError, TypeError):
        return None
    return found if found.api_url.rstrip("/") == api_url.rstrip("/") else None
