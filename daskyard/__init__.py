"""Daskyard, the user side: CLI, embedded local mode and the Dask Cluster class."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["DaskyardCluster"]

if TYPE_CHECKING:
    from daskyard.cluster import DaskyardCluster


def __getattr__(name: str) -> Any:  # keep `import daskyard` light: dask loads on use
    if name == "DaskyardCluster":
        from daskyard.cluster import DaskyardCluster

        return DaskyardCluster
    raise AttributeError(name)
