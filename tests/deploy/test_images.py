"""The images' Dockerfile: its base from a registry without anonymous pull limits, pinned
by digest; every package it installs under the repository's constraints.txt, which the
build context `make package` zips for CodeBuild carries, so the images run the versions
the tests, the CLI and DaskyardCluster run (one pyarrow everywhere)."""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from deploy import images

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "images" / "Dockerfile"
IN_IMAGE = "/etc/daskyard/constraints.txt"


def pins() -> dict[str, str]:
    out = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split(";")[0].strip().split("==")
            out[canonical(name)] = version
    return out


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name.split("[")[0]).lower()


def instructions() -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    return [line.strip() for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def pip_installs() -> list[list[str]]:
    """The arguments of each `pip install` in a RUN."""
    out = []
    for line in instructions():
        if line.startswith("RUN "):
            for command in re.split(r"&&|;", line[4:]):
                words = command.replace('"', "").split()
                if words[:2] == ["pip", "install"]:
                    out.append(words[2:])
    return out


def test_the_base_is_ecr_publics_official_python_pinned_by_digest() -> None:
    froms = [line.split()[1] for line in instructions() if line.startswith("FROM ")]
    external = [f for f in froms if f not in {"base"}]
    assert external, froms
    for image in external:
        assert re.fullmatch(r"public\.ecr\.aws/docker/library/python:3\.11[.\d]*-slim-bookworm"
                            r"@sha256:[0-9a-f]{64}", image), image


def test_every_package_is_installed_under_the_repositorys_constraints() -> None:
    assert f"COPY --chown=root:root --chmod=644 {images.IN_CONTEXT} {IN_IMAGE}" in instructions()
    installs = pip_installs()
    assert len(installs) == 2, installs  # the base, and the notebook's JupyterLab
    named = set()
    for args in installs:
        assert args[args.index("-c") + 1] == IN_IMAGE, args
        packages = [a for a in args if not a.startswith("-") and a != IN_IMAGE]
        assert packages and not [p for p in packages if re.search(r"[=<>~]", p)], packages
        named |= {canonical(p) for p in packages}
    constrained = pins()
    assert named >= {"dask", "distributed", "pyarrow", "bokeh", "boto3", "jupyterlab"}
    assert named <= set(constrained), named - set(constrained)
    # One version everywhere: what the image gets is what this environment (made from the
    # same constraints by `make install`) tests with.
    for package in ("pyarrow", "dask", "distributed"):
        assert importlib.metadata.version(package) == constrained[package], package


def test_the_packaged_build_context_carries_the_constraints(tmp_path: Path) -> None:
    out = tmp_path / "images.zip"
    names = images.write(out)
    with zipfile.ZipFile(out) as zf:
        assert sorted(zf.namelist()) == sorted(names)
        assert zf.read("images/constraints.txt") == (ROOT / "constraints.txt").read_bytes()
        # The notebook's Jupyter extension (the Dask pane shows the cluster's dashboard).
        assert zf.read("images/daskyard_jupyter.py") == \
            (ROOT / "daskyard" / "jupyter.py").read_bytes()
        assert {"images/Dockerfile", "images/entrypoint.py",
                "images/daskyard_scheduler.py"} <= set(zf.namelist())
        assert not [n for n in zf.namelist() if "__pycache__" in n]


def test_the_notebook_imports_the_jupyter_extension_from_its_pythons_site_packages() -> None:
    """The entrypoint enables `daskyard_jupyter` when Python finds it: the COPY puts it in
    the site-packages of the base image's Python."""
    (base,) = [line.split()[1] for line in instructions() if line.startswith("FROM public.")]
    version = re.search(r"python:(3\.\d+)", base)
    assert version is not None, base
    site = f"/usr/local/lib/python{version.group(1)}/site-packages"
    assert (f"COPY --chown=root:root --chmod=644 {images.EXTENSION_IN_CONTEXT} "
            f"{site}/daskyard_jupyter.py") in instructions()


def test_hadolint_passes() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if hadolint is None:
        pytest.skip("hadolint is not installed (make install installs it)")
    out = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
