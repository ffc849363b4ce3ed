"""The images' build context, as `make package` zips it for CodeBuild: images/ with the
repository's constraints.txt beside the Dockerfile, which installs every Python package
under those constraints, and daskyard/jupyter.py as daskyard_jupyter.py (the notebook's
Jupyter server extension: the Dask pane shows the cluster's dashboard). So the images run
the very versions the tests, the CLI and DaskyardCluster run (one pyarrow, one dask and
distributed: a client and a cluster of different versions warn or fail to talk), pinned
to the last transitive dependency.

    python -m deploy.images OUT.zip
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "images"
CONSTRAINTS = ROOT / "constraints.txt"
# Where the Dockerfile finds it in its context (images/, the buildspec's `docker build`).
IN_CONTEXT = "constraints.txt"
JUPYTER_EXTENSION = ROOT / "daskyard" / "jupyter.py"
EXTENSION_IN_CONTEXT = "daskyard_jupyter.py"


def write(out: Path) -> list[str]:
    """Zip images/ (as `images/...`, what the buildspec builds), constraints.txt and the
    Jupyter extension into it; returns the names written."""
    names = []
    added = {IN_CONTEXT: CONSTRAINTS, EXTENSION_IN_CONTEXT: JUPYTER_EXTENSION}
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(p for p in IMAGES.rglob("*") if p.is_file()):
            if "__pycache__" in path.parts or path.name in added:
                continue  # a copy left by a hand build is not the repository's
            name = path.relative_to(ROOT).as_posix()
            zf.write(path, name)
            names.append(name)
        for in_context, source in added.items():
            name = f"images/{in_context}"
            zf.write(source, name)
            names.append(name)
    return names


def main(argv: list[str]) -> None:
    [out] = argv
    print(f"{out}: {len(write(Path(out)))} files, constraints.txt and "
          f"{EXTENSION_IN_CONTEXT} included")


if __name__ == "__main__":
    main(sys.argv[1:])
