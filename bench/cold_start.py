"""3. Lambda cold start: the import time of app.py in a fresh interpreter that sees only
the deployment package and what the Lambda runtime provides (boto3), against importing
boto3 alone in the same conditions; the libraries every Lambda imports, alone, in the
same conditions (what app.py cannot go below); and the deployment package's size.

As Lambda runs it: the package extracted read-only (Lambda's /var/task is), so Python
writes no __pycache__ and uses only the bytecode the zip carries (`-B` as well: root
writes through a-w); the runtime's boto3 with its bytecode, as AWS's image has it. Both
the package as shipped (`make package`: deploy/bytecode.py's .pyc) and as `chalice
package` makes it (no bytecode: every module compiled at each cold start), in one run."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from deploy import bytecode

ROOT = Path(__file__).resolve().parents[1]
# What the python3.11 Lambda runtime ships besides the standard library.
RUNTIME = ("boto3", "botocore", "s3transfer", "dateutil", "urllib3", "six")
# What every Lambda of the app imports before any of Daskyard's code: boto3, chalice,
# Powertools (Logger, Metrics), pydantic's BaseModel and its constrained types.
LIBRARIES = "boto3, chalice, aws_lambda_powertools, pydantic.main, pydantic.types"
PROBE = """
import sys, time
sys.path[:0] = {paths!r}
t = time.perf_counter()
import {module}
print(time.perf_counter() - t)
"""


def package(out: Path) -> Path:
    """`chalice package`'s deployment.zip (no bytecode); sam.json beside it."""
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}
    env.pop("AWS_ENDPOINT_URL", None)
    merge = out / "merge.json"
    subprocess.run([sys.executable, "-m", "deploy.template", "bench", str(merge)], cwd=ROOT,
                   check=True)
    # As `make package` does: chalice reads the stage's policy files, build output.
    subprocess.run([sys.executable, "-m", "deploy.policies", "dev"], cwd=ROOT, check=True,
                   capture_output=True)
    subprocess.run([str(Path(sys.executable).parent / "chalice"), "package", "--stage", "dev",
                    "--pkg-format", "cloudformation", "--merge-template", str(merge),
                    str(out / "pkg")], cwd=ROOT, env=env, check=True, capture_output=True)
    return out / "pkg" / "deployment.zip"


def runtime_dir(out: Path) -> Path:
    target = out / "runtime"
    target.mkdir()
    for name in RUNTIME:
        spec = importlib.util.find_spec(name)
        assert spec and spec.origin, name
        origin = Path(spec.origin)
        if origin.name == "__init__.py":
            shutil.copytree(origin.parent, target / name)  # with __pycache__
        else:
            shutil.copy2(origin, target / origin.name)  # mtime kept: the .pyc stays valid
            pyc = Path(bytecode.cache_name(str(origin)))
            (target / bytecode.CACHE_DIR).mkdir(exist_ok=True)
            shutil.copy2(pyc, target / bytecode.CACHE_DIR / pyc.name)
    return target


def extract_read_only(zipped: Path, target: Path) -> Path:
    with zipfile.ZipFile(zipped) as zf:
        zf.extractall(target)
    chmod_tree(target, writable=False)
    return target


def chmod_tree(root: Path, writable: bool) -> None:
    for path in [root, *root.rglob("*")]:
        mode = path.stat().st_mode
        path.chmod(mode | 0o200 if writable else mode & ~0o222)


def files(root: Path) -> set[Path]:
    return set(root.rglob("*"))


def import_time(module: str, paths: list[str]) -> float:
    """Seconds to import `module` (or a comma-separated list of modules)."""
    env = {"PATH": os.environ.get("PATH", ""), "AWS_DEFAULT_REGION": "us-east-1",
           "DASKYARD_STAGE": "bench"}
    out = subprocess.run([sys.executable, "-I", "-S", "-B", "-c",
                          PROBE.format(paths=paths, module=module)],
                         capture_output=True, text=True, env=env, cwd="/", check=True)
    return float(out.stdout.strip())


def run(repeats: int = 10) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        plain = package(out)
        shipped = out / "deployment.zip"
        shutil.copy(plain, shipped)
        bytecode.add(shipped, bytecode.runtime_of(plain.with_name("sam.json")))
        trees = {"shipped": extract_read_only(shipped, out / "code"),
                 "no_bytecode": extract_read_only(plain, out / "plain")}
        runtime = runtime_dir(out)
        chmod_tree(runtime, writable=False)
        before = {name: files(tree) for name, tree in [*trees.items(), ("runtime", runtime)]}
        times: dict[tuple[str, str], list[float]] = {}
        try:
            # Interleaved: a load that comes and goes on a shared machine weighs on all.
            for _ in range(repeats):
                for what in ("app", "boto3", LIBRARIES):
                    for name, tree in trees.items():
                        times.setdefault((name, what), []).append(
                            import_time(what, [str(tree), str(runtime)]))
            after = {name: files(tree) for name, tree in [*trees.items(), ("runtime", runtime)]}
            assert after == before, "the imports wrote into the read-only package or runtime"
        finally:
            for tree in [*trees.values(), runtime]:
                chmod_tree(tree, writable=True)  # so that the folder can be removed
        with zipfile.ZipFile(shipped) as zf:
            tops = sorted({n.split("/", 1)[0] for n in zf.namelist()})

        def ms(name: str, what: str) -> int:
            return round(statistics.median(times[(name, what)]) * 1000)

        def ratio(name: str, what: str) -> float:
            return round(statistics.median(times[(name, what)])
                         / statistics.median(times[(name, "boto3")]), 2)

        def figures(name: str, zipped: Path) -> dict[str, Any]:
            return {"app_ms": ms(name, "app"), "boto3_ms": ms(name, "boto3"),
                    "ratio": ratio(name, "app"), "libraries_ms": ms(name, LIBRARIES),
                    "libraries_ratio": ratio(name, LIBRARIES),
                    "package_mib": round(zipped.stat().st_size / 2**20, 2)}

        return {"repeats": repeats, "read_only": True, **figures("shipped", shipped),
                "package_has_dask": any(t in ("dask", "distributed") for t in tops),
                "no_bytecode": figures("no_bytecode", plain)}


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
