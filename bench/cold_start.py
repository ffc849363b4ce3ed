"""3. Lambda cold start: the import time of app.py in a fresh interpreter that sees only
the deployment package and what the Lambda runtime provides (boto3), against importing
boto3 alone in the same conditions; the libraries every Lambda imports, alone, in the
same conditions (what app.py cannot go below); and the deployment package's size."""

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
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}
    env.pop("AWS_ENDPOINT_URL", None)
    merge = out / "merge.json"
    subprocess.run([sys.executable, "-m", "deploy.template", "bench", str(merge)], cwd=ROOT,
                   check=True)
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
            shutil.copytree(origin.parent, target / name)
        else:
            shutil.copy(origin, target / origin.name)
    return target


def import_time(module: str, paths: list[str]) -> float:
    """Seconds to import `module` (or a comma-separated list of modules)."""
    env = {"PATH": os.environ.get("PATH", ""), "AWS_DEFAULT_REGION": "us-east-1",
           "DASKYARD_STAGE": "bench"}
    out = subprocess.run([sys.executable, "-I", "-S", "-c",
                          PROBE.format(paths=paths, module=module)],
                         capture_output=True, text=True, env=env, cwd="/", check=True)
    return float(out.stdout.strip())


def run(repeats: int = 10) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        zipped = package(out)
        code = out / "code"
        with zipfile.ZipFile(zipped) as zf:
            zf.extractall(code)
        runtime = runtime_dir(out)
        paths = [str(code), str(runtime)]
        app: list[float] = []
        boto: list[float] = []
        libraries: list[float] = []
        # Interleaved: a load that comes and goes on a shared machine weighs on all three.
        for _ in range(repeats):
            app.append(import_time("app", paths))
            boto.append(import_time("boto3", paths))
            libraries.append(import_time(LIBRARIES, paths))
        with zipfile.ZipFile(zipped) as zf:
            tops = sorted({n.split("/", 1)[0] for n in zf.namelist()})
        return {"repeats": repeats, "app_ms": round(statistics.median(app) * 1000),
                "boto3_ms": round(statistics.median(boto) * 1000),
                "ratio": round(statistics.median(app) / statistics.median(boto), 2),
                "libraries_ms": round(statistics.median(libraries) * 1000),
                "libraries_ratio": round(statistics.median(libraries) / statistics.median(boto),
                                         2),
                "package_mib": round(zipped.stat().st_size / 2**20, 2),
                "package_has_dask": any(t in ("dask", "distributed") for t in tops)}


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
