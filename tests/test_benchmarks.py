"""The benchmarks still run and report: quick mode, never a timing check."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

from benchmarks.__main__ import RESULTS, WORKLOADS
from benchmarks.harness import Row
from benchmarks.report import render_markdown

ROOT = Path(__file__).resolve().parent.parent


def test_quick_mode_reports_a_number_for_every_workload() -> None:
    """Each workload prints a row with a number, and RESULTS.md is left alone."""
    before = RESULTS.read_bytes() if RESULTS.exists() else None

    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    values: dict[str, list[float]] = {}
    for line in done.stdout.splitlines()[1:]:
        workload, _metric, value, *_ = re.split(r"\s{2,}", line) + ["", ""]
        values.setdefault(workload, []).append(_float(value))
    assert set(values) == set(WORKLOADS.values()), done.stdout
    for workload, numbers in values.items():
        assert any(not math.isnan(n) for n in numbers), (workload, done.stdout)
    assert (RESULTS.read_bytes() if RESULTS.exists() else None) == before


def test_results_file_names_the_machine_and_versions() -> None:
    """RESULTS.md carries the environment before the table."""
    env = {"cores": "2", "python": "3.11.7", "trio": "0.35.0", "redis": "7.0.15"}
    rows = [Row("memory pipeline", "tasks/s", 1234.5, "tasks/s", note="a | b")]

    text = render_markdown(rows, env, 1.0, quick=False)

    assert "- cores: 2" in text and "- redis: 7.0.15" in text
    assert "| memory pipeline | tasks/s | 1,234 | tasks/s |" in text
    assert "a \\| b" in text


def _float(cell: str) -> float:
    try:
        return float(cell.replace(",", ""))
    except ValueError:
        return math.nan
