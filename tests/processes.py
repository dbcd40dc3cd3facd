"""Start agent processes for tests and find the URL they serve on."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVING = re.compile(r"serving (http://\S+)")


@contextmanager
def agent_process(
    args: list[str], env: dict[str, str] | None = None, timeout: float = 30
) -> Iterator[tuple[subprocess.Popen[str], str, list[str]]]:
    """Run `python ARGS` with PORT=0; yield it, its URL and its output lines.

    The process is stopped with SIGTERM on exit and must exit 0.
    """
    full_env = {**os.environ, "PORT": "0", "HOST": "127.0.0.1", **(env or {})}
    proc = subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    found = threading.Event()
    url: list[str] = []

    def reader() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            match = SERVING.search(line)
            if match and not url:
                url.append(match.group(1))
                found.set()
        found.set()

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    try:
        assert found.wait(timeout) and url, "agent did not start:\n" + "".join(lines)
        yield proc, url[0], lines
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        thread.join(timeout=5)
    assert code == 0, f"exit code {code}:\n" + "".join(lines)
