"""Where a workload's time goes: py-spy samples, summed two ways.

    python -m benchmarks.profile memory_pipeline [--quick]

Runs `python -m benchmarks.MODULE` under `py-spy record` (with its child
processes: workers, servers) and prints the share of samples spent in
each library (self time) and in each function of `actors/` and
`runtime/` (inclusive time). Needs py-spy: `pip install -e '.[bench]'`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from benchmarks.workers import ROOT

LIBRARIES = (
    "trio/_core/_run.py",
    "trio/_channel.py",
    "trio_asyncio/",
    "asyncio/",
    "trio/",
    "outcome/",
    "contextlib.py",
    "attr",
    "redis/",
    "hypercorn/",
    "h11/",
    "starlette/",
    "actors/",
    "runtime/",
    "benchmarks/",
)
OURS = re.compile(r"\((actors|runtime)/")
_LINE = re.compile(r":\d+\)$")


def record(module: str, quick: bool, out: Path) -> None:
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"
    command = [spy, "record", "--subprocesses", "-r", "200", "-f", "raw"]
    command += ["-o", str(out), "--", sys.executable, "-m", f"benchmarks.{module}"]
    subprocess.run(command + (["--quick"] if quick else []), cwd=ROOT, check=True)


def summarize(raw: str, top: int = 25) -> str:
    """Self time per library and inclusive time per function of ours."""
    by_library: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        samples = int(count)
        frames = [_short(frame) for frame in stack.split(";")]
        total += samples
        by_library[_library(frames[-1])] += samples
        for frame in set(frames):
            if OURS.search(frame):
                inclusive[frame] += samples

    out = [f"{total} samples", "", "self time by library:"]
    out += [f"{100 * n / total:5.1f}%  {lib}" for lib, n in by_library.most_common()]
    out += ["", "inclusive time, actors/ and runtime/:"]
    out += [f"{100 * n / total:5.1f}%  {f}" for f, n in inclusive.most_common(top)]
    return "\n".join(out)


def _short(frame: str) -> str:
    frame = _LINE.sub(")", frame)
    return re.sub(r"\(/\S*?/(site-packages|python3\.\d+|main)/", "(", frame)


def _library(frame: str) -> str:
    return next((lib for lib in LIBRARIES if lib in frame), "other")


def main() -> None:
    module = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "profile.txt"
        record(module, "--quick" in sys.argv, out)
        print(summarize(out.read_text()))


if __name__ == "__main__":
    main()
