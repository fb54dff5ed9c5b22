"""The examples and the notebook run end to end (so they cannot rot)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO

EXAMPLES = REPO / "examples" / "python"


@pytest.mark.parametrize(
    ("script", "expect"),
    [
        ("quickstart.py", "memoize: first call"),
        ("async_service.py", "computations for 20 concurrent identical requests: 1"),
        ("fact_driver.py", "done: no request failed because of the cache"),
    ],
)
def test_example_runs(tmp_path: Path, script: str, expect: str) -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script)], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert expect in done.stdout


def test_fact_driver_goes_through_a_failure_and_recovery(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "fact_driver.py"), str(tmp_path / "cache")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "mode normal -> memory_only" in out or "mode normal -> read_only" in out
    assert "recovered" in out and "answers on disk for 13/13 queries" in out


def test_quickstart_notebook_executes() -> None:
    import nbclient
    import nbformat

    notebook = nbformat.read(REPO / "examples" / "notebooks" / "quickstart.ipynb", as_version=4)
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    html = [
        o["data"]["text/html"]
        for c in notebook.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "execute_result"
    ]
    assert len(html) == 3 and "read_only" in html[1] and "normal" in html[2]
