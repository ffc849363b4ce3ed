"""Compiled bytecode in the Lambda package, so that a cold start does not compile it.

Lambda extracts the package to /var/task, which is read-only: Python cannot write
__pycache__ there, so every module of the package that a Lambda imports is compiled from
source at every cold start. This step, run on `chalice package`'s deployment.zip, adds
`__pycache__/<module>.cpython-311.pyc` for what every Lambda imports (the modules that
importing app.py loads, found by importing it) and for all of chalicelib (the handlers
import their steps and triggers when called): 149 modules, 8.8 -> 9.71 MiB. Not the
libraries only some handlers import when called (slack_sdk, cryptography, Powertools'
parameters and idempotency): with them 10.14 MiB, over the 10 MiB target; those Lambdas
compile them at their cold start. Nor the whole package (772 modules): 12.2 MiB.

The .pyc are unchecked-hash (PEP 552): the interpreter uses them without reading the
source back to compare, and they do not depend on the files' mtimes, which unzipping does
not keep. The source ships alongside them (tracebacks); a .py changed after this step
would be ignored, so the package is rebuilt, never edited in place. A __pycache__ the
zip already carried (left in the tree by test runs: timestamp .pyc that never match) is
dropped. Bytecode is specific to Python's minor version: the step refuses to run unless
the building interpreter is the version of the template's runtime.

    python -m deploy.bytecode build/STAGE    (the folder holding deployment.zip, sam.json)
"""

from __future__ import annotations

import importlib.util
import json
import os
import py_compile
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

CACHE_DIR = "__pycache__"
PYTHON_RUNTIME = re.compile(r"python(\d+)\.(\d+)")
# Run in a fresh interpreter with the extracted package first on the path: the package's
# .py files that importing app.py loads. -B: it writes no bytecode of its own.
TRACE = """
import json, sys
from pathlib import Path
root = Path(sys.argv[1])
sys.path.insert(0, str(root))
import app
files = {getattr(m, "__file__", None) for m in list(sys.modules.values())}
print(json.dumps(sorted(str(Path(f).relative_to(root)) for f in files
                        if f and f.endswith(".py") and Path(f).is_relative_to(root))))
"""


class BytecodeError(Exception):
    """The package cannot get bytecode that its Lambda runtime would use."""


@dataclass(frozen=True)
class Result:
    compiled: int  # .pyc added
    dropped: int  # __pycache__ files the zip carried


def runtime_of(template: Path) -> tuple[int, int]:
    """The Python version every function of the packaged template runs on."""
    doc = json.loads(template.read_text())
    runtimes = {r["Properties"]["Runtime"] for r in doc.get("Resources", {}).values()
                if r.get("Type") in ("AWS::Serverless::Function", "AWS::Lambda::Function")
                and "Runtime" in r.get("Properties", {})}
    runtimes |= {doc["Globals"]["Function"]["Runtime"]} if "Runtime" in doc.get(
        "Globals", {}).get("Function", {}) else set()
    if len(runtimes) != 1:
        raise BytecodeError(f"{template}: expected one runtime for all functions, "
                            f"found {sorted(runtimes) or 'none'}")
    [runtime] = runtimes
    match = PYTHON_RUNTIME.fullmatch(runtime)
    if not match:
        raise BytecodeError(f"{template}: runtime {runtime!r} is not a Python runtime")
    return int(match[1]), int(match[2])


def check_interpreter(runtime: tuple[int, int]) -> None:
    here = sys.version_info[:2]
    if sys.implementation.name != "cpython" or here != runtime:
        raise BytecodeError(
            f"bytecode is specific to the Python version: the Lambdas run python"
            f"{runtime[0]}.{runtime[1]}, this is {sys.implementation.name} "
            f"{here[0]}.{here[1]} ({sys.executable}); build with python{runtime[0]}."
            f"{runtime[1]}")


def imported_by_app(root: Path) -> list[str]:
    """The package's .py files (relative paths) that importing app.py loads."""
    env = {"PATH": os.environ.get("PATH", ""), "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_EC2_METADATA_DISABLED": "true", "DASKYARD_STAGE": "dev"}
    out = subprocess.run(  # nosec B603  # this interpreter, a fixed script
        [sys.executable, "-I", "-B", "-c", TRACE, str(root)], env=env, cwd=root,
        capture_output=True, text=True)
    if out.returncode:
        raise BytecodeError(f"importing the package's modules failed:\n{out.stderr}")
    modules: list[str] = json.loads(out.stdout)
    return modules


def cache_name(source: str) -> str:
    """`a/b.py` -> `a/__pycache__/b.cpython-311.pyc`, where the interpreter looks."""
    return importlib.util.cache_from_source(source, optimization="")


def _stale(name: str) -> bool:
    return CACHE_DIR in PurePosixPath(name).parts


def _copy(info: zipfile.ZipInfo) -> zipfile.ZipInfo:
    new = zipfile.ZipInfo(info.filename, info.date_time)
    new.compress_type = info.compress_type
    new.create_system = info.create_system
    new.external_attr = info.external_attr  # the file's mode
    return new


def add(zipped: Path, runtime: tuple[int, int]) -> Result:
    """Rewrites `zipped` with bytecode for the modules the Lambdas import, without the
    __pycache__ it carried."""
    check_interpreter(runtime)
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(zipped) as zin:
        kept = [i for i in zin.infolist() if not _stale(i.filename)]
        root = Path(tmp) / "package"
        for info in kept:
            zin.extract(info, root)
        sources = sorted(set(imported_by_app(root)) | {
            i.filename for i in kept
            if i.filename.startswith("chalicelib/") and i.filename.endswith(".py")})
        pycs = Path(tmp) / "pycs"
        for source in sources:
            # dfile: the code names its file relative to the package, not this folder
            # (the import system sets the real path at load), so builds are reproducible.
            py_compile.compile(str(root / source), cfile=str(pycs / cache_name(source)),
                               dfile=source, doraise=True,
                               invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
        by_name = {i.filename: i for i in kept}
        dropped = len(zin.infolist()) - len(kept)
        partial = zipped.with_name(zipped.name + ".partial")
        try:
            if dropped:  # a new zip of what is kept (each entry compressed again)
                with zipfile.ZipFile(partial, "w") as zout:
                    for info in kept:
                        zout.writestr(_copy(info), zin.read(info))
            else:  # nothing to drop: appended to a copy, 2 s sooner
                shutil.copyfile(zipped, partial)
            with zipfile.ZipFile(partial, "a") as zout:
                for source in sources:
                    info = zipfile.ZipInfo(cache_name(source), by_name[source].date_time)
                    info.compress_type = zipfile.ZIP_DEFLATED
                    info.external_attr = 0o100644 << 16  # a regular file, rw-r--r--
                    zout.writestr(info, (pycs / cache_name(source)).read_bytes())
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    os.replace(partial, zipped)  # atomic: the zip is either the old one or the new one
    return Result(compiled=len(sources), dropped=dropped)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    folder = Path(argv[0])
    try:
        result = add(folder / "deployment.zip", runtime_of(folder / "sam.json"))
    except BytecodeError as exc:
        print(f"deploy.bytecode: {exc}", file=sys.stderr)
        return 1
    tag = sys.implementation.cache_tag
    print(f"bytecode: {result.compiled} modules compiled ({tag}, unchecked-hash), "
          f"dropped the {result.dropped} {CACHE_DIR} files the zip carried")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
