"""The README's receiver walkthrough, typed as written in two shells, ends with punches.

The commands are read from the README's two ``walkthrough`` blocks and run through ``bash`` in a
scratch directory that looks like the repository's (``.venv`` and ``examples`` linked), so the
repository is not littered. Two changes only, both for a test: the receiver takes a free port
(``--port 0``, read from what ``serve`` prints) instead of 8080, and the simulated day is four
people with shorter gaps (``--people 4 --interval 0.05``) instead of ten at 0.3 s.
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text("utf-8")
BIN = Path(sys.executable).parent


def walkthrough(shell: str) -> list[str]:
    """The command lines of the README's block ``<!-- walkthrough: shell N -->``."""
    marker = f"<!-- walkthrough: {shell} -->\n```sh\n"
    assert marker in README, f"README.md has no block {marker!r}"
    block = README.split(marker, 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def _bash(line: str, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-c", "set -o pipefail; " + line],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def repo_like(tmp_path):
    """A directory where the README's relative paths work: .venv/bin and examples/."""
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "bin").symlink_to(BIN)
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    return tmp_path


def test_the_readme_walkthrough_ends_with_punches_in_the_export(repo_like):
    env = {k: v for k, v in os.environ.items() if k != "DAKOKU_DB"}
    first, second = walkthrough("shell 1"), walkthrough("shell 2")
    *setup, serve = first
    assert " cloud serve --port 8080" in serve
    for line in setup:
        done = _bash(line, repo_like, env)
        assert done.returncode == 0, (line, done.stdout, done.stderr)
    assert (repo_like / "dakoku-cloud.db").exists()  # where the README says the database goes
    server = subprocess.Popen(
        ["bash", "-c", "exec " + serve.split("#")[0].replace("--port 8080", "--port 0")],
        cwd=repo_like,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        banner = server.stdout.readline()  # type: ignore[union-attr]
        found = re.search(r"serving (http://127\.0\.0\.1:(\d+)) ", banner)
        assert found and found.group(2) != "0", banner
        sim, export = second
        assert "--receiver http://127.0.0.1:8080 " in sim
        sim = sim.replace("http://127.0.0.1:8080", found.group(1))
        done = _bash(sim + " --people 4 --interval 0.05", repo_like, env)
        assert done.returncode == 0, (done.stdout, done.stderr)
        assert "network down" in done.stdout and "打刻済みです" in done.stdout
        assert "mode online -> offline" in done.stdout and "mode offline -> online" in done.stdout
        done = _bash(export, repo_like, env)
        assert done.returncode == 0, done.stderr
    finally:
        server.terminate()
        server.wait(timeout=30)
    with open(repo_like / "punches.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    # 4 people x 4 punches, the unregistered card; the double tap is answered, not recorded
    assert len(rows) == 17, rows
    assert {r["terminal"] for r in rows} == {"T0001"}
    assert sorted(int(r["seq"]) for r in rows) == list(range(1, 18))
    assert {r["employee"] for r in rows} == {"E0001", "E0002", "E0003", "E0004", ""}
    assert any(r["offline"] == "yes" for r in rows), "the network cut left no offline punch"
    assert sum(r["result"] == "person not registered" for r in rows) == 1
    kinds = {r["kind"] for r in rows if r["employee"]}
    assert kinds == {"clock_in", "break_start", "break_end", "clock_out"}
    assert all(r["placed"] == "clock" for r in rows)  # the terminal's clock was the receiver's
