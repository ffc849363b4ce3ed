"""Daskyard's section of dask's configuration, `daskyard:`, as dask-cloudprovider has
`cloudprovider:` and dask-gateway `gateway:`: daskyard.yaml (every key, with its comment)
is registered as dask's defaults on import, so `~/.config/dask/*.yaml`, `DASK_DASKYARD__*`
variables and `dask.config.set({"daskyard.workers": 4})` set the API URL and every default
of a new cluster, for `DaskyardCluster` and the CLI alike. Arguments given win."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dask.config
import yaml

from daskyard import credentials
from daskyard.client import DEFAULT_API

YAML = Path(__file__).with_name("daskyard.yaml")

with YAML.open() as _file:
    dask.config.update_defaults(yaml.safe_load(_file))

# The create request's fields dask config may default (dask spells them with dashes).
SPEC_KEYS = ("workers", "worker_cpu", "worker_memory", "worker_threads", "launch_type",
             "instance_type", "image", "environment", "tags", "allowed_cidrs",
             "idle_timeout_minutes", "ttl_hours", "teardown", "notebook", "drive")


def get(key: str, default: Any = None) -> Any:
    """`daskyard.<key>`, `_` and `-` alike (dask's canonical form)."""
    return dask.config.get(f"daskyard.{key.replace('_', '-')}", default=default)


def spec_defaults() -> dict[str, Any]:
    """The create fields dask config sets (not null, not empty)."""
    out = {}
    for key in SPEC_KEYS:
        value = get(key)
        if value is not None and value != {} and value != []:
            out[key] = value
    return out


def api_url(given: str | None = None) -> str:
    """The API to talk to: the one given, `$DASKYARD_API`, `daskyard.api` (also
    `DASK_DASKYARD__API`), the local API `daskyard serve --local` last started if it
    still answers, else local mode's default URL."""
    return (given or os.environ.get("DASKYARD_API") or get("api")
            or credentials.running_api() or DEFAULT_API)
