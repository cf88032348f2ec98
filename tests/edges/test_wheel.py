"""csvdock works as an installed package (issue 27, item 2): the wheel, installed apart from the
repository, ingests a file in an empty folder (no luigi.cfg) and writes its reports."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_ingests_and_reports_from_an_empty_folder(tmp_path: Path):
    wheels, installed, empty = tmp_path / "wheels", tmp_path / "installed", tmp_path / "empty"
    empty.mkdir()
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "-w", str(wheels), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (wheel,) = wheels.glob("csvdock-*.whl")
    subprocess.run(
        [*pip, "install", "--no-deps", "--target", str(installed), str(wheel)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    # The wheel's csvdock first; its dependencies from this environment (whose own csvdock,
    # an editable install, is not seen: its finder is a .pth file of a site folder).
    path = os.pathsep.join([str(installed), sysconfig.get_paths()["purelib"]])
    (empty / "some.csv").write_text("id,name,amount\n1,a,2.5\n2,b,3\n3,c,4\n")
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith(("CSVDOCK_", "LUIGI_CONFIG"))
    }
    # nbconvert's templates live in this environment's share/jupyter (found by prefix).
    environment["JUPYTER_PATH"] = str(Path(sysconfig.get_paths()["data"]) / "share" / "jupyter")
    done = subprocess.run(
        [
            sys.executable,
            "-S",
            "-c",
            "import sys; from csvdock.edges.cli import main; "
            "sys.exit(main(['ingest', 'some.csv']))",
        ],
        cwd=empty,
        env={**environment, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "report schema:" in done.stdout and "report errors:" in done.stdout, done.stdout
    assert (empty / "warehouse.duckdb").exists()
    assert list((empty / ".csvdock" / "runs").glob("*/schema_report.html"))
    index = (empty / ".csvdock" / "runs" / "index.html").read_text(encoding="utf-8")
    assert "<h1>csvdock runs</h1>" in index  # the page template travels in the wheel
    origin = subprocess.run(
        [sys.executable, "-S", "-c", "import csvdock; print(csvdock.__file__)"],
        cwd=empty,
        env={**environment, "PYTHONPATH": path},
        capture_output=True,
        text=True,
    )
    assert origin.stdout.startswith(str(installed))  # the wheel's, not the repository's
