"""Both a wheel and an editable install give one `provgraph` package and a working `prov`."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_ruff_is_clean():
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


def test_a_wheel_installs_one_package_and_runs(tmp_path, repo):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w",
                    str(tmp_path / "dist"), str(ROOT)], check=True, capture_output=True)
    [wheel] = (tmp_path / "dist").glob("provgraph-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names if not name.startswith("provgraph-")}
    assert tops == {"provgraph"}  # no top-level cli/, queries/, ingestors/
    for module in ("provgraph/cli/__init__.py", "provgraph/ingestors/posix.py",
                   "provgraph/queries/lineage.py", "provgraph/stores/embedded.py",
                   "provgraph/fileview/why/explaining.py"):
        assert module in names

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([venv / "bin" / "pip", "install", "--quiet", "--no-deps", wheel], check=True,
                   capture_output=True)
    entry = venv / "bin" / "prov"
    # the dependencies come from the test environment, not from this checkout
    env = {**repo.env, "PYTHONPATH": sysconfig.get_path("purelib")}
    check = subprocess.run([venv / "bin" / "python", "-c",
                            "import provgraph, provgraph.cli; print(provgraph.__file__)"],
                           cwd=repo.root, env=env, capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    assert check.stdout.startswith(str(venv))
    proc = subprocess.run([entry, "sh", "-c", "echo hi > hi.txt"], cwd=repo.root, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    log = subprocess.run([entry, "log", "--json"], cwd=repo.root, env=env,
                         capture_output=True, text=True)
    assert log.returncode == 0, log.stderr
    assert '"hi.txt@v1"' in log.stdout
