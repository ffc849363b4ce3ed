"""Daskyard, the user side: CLI, embedded local mode and the Dask Cluster class."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["DaskyardCluster", "list_clusters"]

if TYPE_CHECKING:
    from daskyard.cluster import DaskyardCluster, list_clusters


def __getattr__(name: str) -> Any:  # keep `import daskyard` light: dask loads on use
    if name in __all__:
        from daskyard import cluster

        return getattr(cluster, name)
    raise AttributeError(name)
