"""Every csvdock command of the README's guide runs as written (issue 27, item 3): its fenced
blocks are read, and each ``csvdock ...`` line is run in a fresh folder holding the demo file
(the README's PostgreSQL URL stands for the test server)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README_DSN = "postgresql://postgres@127.0.0.1:5432/test"


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S)
    lines = [line.split("#", 1)[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line.startswith("csvdock ")]


def test_the_readme_commands_run(workdir: Path, pg_dsn: str):
    commands = readme_commands()
    assert len(commands) >= 4 and any("postgresql://" in c for c in commands)
    bin_dir = Path(sys.executable).parent
    subprocess.run(
        [sys.executable, "-m", "csvdock.edges.demo", "demo/users.csv"],
        cwd=workdir,
        check=True,
        capture_output=True,
    )
    environment = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    environment.pop("CSVDOCK_ISOLATE_TASKS", None)
    for command in commands:
        args = shlex.split(command.replace(README_DSN, pg_dsn))
        done = subprocess.run(
            args, cwd=workdir, env=environment, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, (command, done.stderr[-2000:])
