"""ProvToolbox (Java, Maven Central `org.openprovenance.prov`) as a second, strict reader of
what `prov export` writes: built from tests/provtoolbox/pom.xml on first use into
.provtoolbox/<version> (git-ignored), run as one JVM answering many documents."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from pathlib import Path

HERE = Path(__file__).parent / "provtoolbox"
HOME = Path(os.environ.get("PROV_TEST_PROVTOOLBOX_HOME") or HERE.parents[1] / ".provtoolbox")
#: The version lines the tests read with (Maven profile) and the release each builds.
VERSIONS = {"0.9": "0.9.27", "2.2": "2.2.1"}


def build(line: str) -> Path:
    """The folder of a built ProvToolbox (`line` is 0.9 or 2.2), building it once: concurrent
    test workers wait for the first."""
    home = HOME / VERSIONS[line]
    home.mkdir(parents=True, exist_ok=True)
    with open(home / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        built = home / ".built"
        if not built.exists() or (HERE / "pom.xml").stat().st_mtime > built.stat().st_mtime \
                or (HERE / "src" / "Driver.java").stat().st_mtime > built.stat().st_mtime:
            mvn = shutil.which("mvn")
            if mvn is None:
                raise RuntimeError("ProvToolbox tests need Maven (mvn) and Java 17")
            proc = subprocess.run(
                [mvn, "-B", "-q", "-f", str(HERE / "pom.xml"), "package", f"-Pv{line}",
                 f"-Dprovtoolbox.home={home}"], capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError(f"building ProvToolbox {line} failed:\n"
                                   f"{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
            built.touch()
    return home


class ProvToolbox:
    """One JVM reading PROV files (their format from the extension) and writing them again."""

    def __init__(self, line: str):
        home = build(line)
        self.version = VERSIONS[line]
        classpath = f"{home / 'build' / 'classes'}{os.pathsep}{home / 'lib'}/*"
        self.proc = subprocess.Popen(
            ["java", "-Duser.timezone=UTC", "-cp", classpath, "Driver"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, encoding="utf-8")

    def convert(self, source: Path, target: Path | None = None) -> str:
        """ProvToolbox reads `source` (and writes `target`): "ok N" (N statements read), or
        "error ..." with its reason."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{source}\t{target}\n" if target else f"{source}\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().strip()
        assert answer, "the ProvToolbox driver ended"
        return answer

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)
