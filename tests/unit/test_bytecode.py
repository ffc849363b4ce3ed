"""deploy/bytecode.py on a small package: the .pyc it adds (what importing app.py loads,
and all of chalicelib), the stale __pycache__ it drops, the entries it keeps as they were,
and its refusal to compile for another Python than the template's runtime. The real
package, imported read-only: tests/deploy/test_template.py."""

from __future__ import annotations

import importlib.util
import json
import sys
import zipfile
from pathlib import Path

import pytest

from deploy import bytecode

RUNTIME = sys.version_info[:2]
FILES = {  # name: (mode, content)
    "app.py": (0o100644, b"import lib\n"),
    "lib/__init__.py": (0o100644, b"X = 1\n"),
    "lib/data.json": (0o100644, b"{}\n"),
    "other/__init__.py": (0o100644, b"Y = 2\n"),  # in the package, imported by nothing
    "chalicelib/__init__.py": (0o100644, b""),
    "chalicelib/lazy.py": (0o100644, b"Z = 3\n"),  # imported by a handler when called
    f"chalicelib/__pycache__/lazy.{sys.implementation.cache_tag}.pyc": (0o100644, b"stale"),
    "bin/tool": (0o100755, b"#!/bin/sh\n"),
}


def make_package(folder: Path, runtime: str = "python{}.{}".format(*RUNTIME),
                 stale: bool = True) -> Path:
    folder.mkdir()
    zipped = folder / "deployment.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        for name, (mode, content) in FILES.items():
            if name.endswith(".pyc") and not stale:
                continue
            info = zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0))
            info.external_attr = mode << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, content)
    template = {"Resources": {f: {"Type": "AWS::Serverless::Function",
                                  "Properties": {"Runtime": runtime}} for f in ("A", "B")}}
    (folder / "sam.json").write_text(json.dumps(template))
    return zipped


@pytest.mark.parametrize("stale", [True, False], ids=["rewritten", "appended"])
def test_adds_unchecked_hash_pycs_for_app_imports_and_chalicelib_and_drops_stale_ones(
        tmp_path: Path, stale: bool) -> None:
    zipped = make_package(tmp_path / "pkg", stale=stale)
    result = bytecode.add(zipped, bytecode.runtime_of(zipped.with_name("sam.json")))
    assert (result.compiled, result.dropped) == (4, int(stale))
    with zipfile.ZipFile(zipped) as zf:
        infos = {i.filename: i for i in zf.infolist()}
        assert len(infos) == len(zf.infolist())  # no name twice
        pycs = {n for n in infos if n.endswith(".pyc")}
        assert {importlib.util.source_from_cache(n) for n in pycs} == {
            "app.py", "lib/__init__.py", "chalicelib/__init__.py", "chalicelib/lazy.py"}
        for name in pycs:
            data = zf.read(name)
            assert data[:4] == importlib.util.MAGIC_NUMBER, name
            assert int.from_bytes(data[4:8], "little") == 0b01, name  # unchecked hash
            source = importlib.util.source_from_cache(name)
            assert data[8:16] == importlib.util.source_hash(FILES[source][1]), name
        for name, (mode, content) in FILES.items():
            if name.endswith(".pyc"):
                continue
            assert zf.read(name) == content, name
            assert infos[name].external_attr >> 16 == mode, name
            assert infos[name].date_time == (1980, 1, 1, 0, 0, 0), name
    assert sorted(p.name for p in zipped.parent.iterdir()) == ["deployment.zip", "sam.json"]


def test_refuses_bytecode_for_another_python_and_leaves_the_zip_as_it_was(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = f"python{RUNTIME[0]}.{RUNTIME[1] + 1}"
    zipped = make_package(tmp_path / "pkg", runtime=other)
    before = zipped.read_bytes()
    assert bytecode.main([str(zipped.parent)]) == 1
    assert f"the Lambdas run {other}" in capsys.readouterr().err
    assert zipped.read_bytes() == before


@pytest.mark.parametrize(("runtimes", "error"), [
    (["python3.11", "python3.12"], "expected one runtime"),
    (["nodejs20.x"], "not a Python runtime"),
    ([], "found none")])
def test_runtime_must_be_one_python_for_every_function(
        tmp_path: Path, runtimes: list[str], error: str) -> None:
    template = {"Resources": {f"F{i}": {"Type": "AWS::Lambda::Function",
                                        "Properties": {"Runtime": r}}
                              for i, r in enumerate(runtimes)}}
    (tmp_path / "sam.json").write_text(json.dumps(template))
    with pytest.raises(bytecode.BytecodeError, match=error):
        bytecode.runtime_of(tmp_path / "sam.json")
