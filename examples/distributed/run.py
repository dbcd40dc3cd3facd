"""Run one API process and two worker processes on one Redis, send tasks.

    REDIS_URL=redis://127.0.0.1:6379/0 python examples/distributed/run.py [N]

Starts `agent-runtime serve --role api` and two `agent-runtime worker`
processes (as `python -m actors.cli`), sends N messages (default 20) over
JSON-RPC, waits until every task is completed, prints which worker ran how
many, and stops all three processes with SIGTERM. Standard library only.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
AGENT = "examples/distributed/agent.py:handler"


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "actors.cli", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_line(proc: subprocess.Popen[str], pattern: str) -> re.Match[str]:
    """Read the process's output until a line matches `pattern`."""
    assert proc.stdout is not None
    for line in proc.stdout:
        match = re.search(pattern, line)
        if match:
            # Keep draining the output so the process never blocks on a pipe.
            threading.Thread(target=proc.stdout.read, daemon=True).start()
            return match
    raise SystemExit(f"process exited before printing {pattern!r}")


def call(url: str, method: str, params: dict[str, Any]) -> dict[str, Any]:
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        reply = json.load(response)
    if "error" in reply:
        raise SystemExit(f"error: {reply['error']}")
    return reply["result"]


def send(url: str, text: str) -> str:
    message = {
        "role": "user",
        "messageId": str(uuid.uuid4()),
        "parts": [{"kind": "text", "text": text}],
    }
    return call(url, "message/send", {"message": message})["id"]


def wait_all(url: str, ids: list[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    for task_id in ids:
        while True:
            state = call(url, "tasks/get", {"id": task_id})["status"]["state"]
            if state == "completed":
                break
            if state in ("failed", "canceled", "rejected"):
                raise SystemExit(f"task {task_id} ended {state}")
            if time.monotonic() > deadline:
                raise SystemExit(f"task {task_id} still {state}")
            time.sleep(0.05)


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    if not os.environ.get("REDIS_URL"):
        raise SystemExit("set REDIS_URL, e.g. redis://127.0.0.1:6379/0")
    log = Path(tempfile.mkdtemp()) / "runs.log"
    env = {
        **os.environ,
        "SCHEDULER_TYPE": "redis",
        "REDIS_PREFIX": os.environ.get("REDIS_PREFIX", f"demo-{uuid.uuid4().hex[:6]}"),
        "HOST": "127.0.0.1",
        "PORT": os.environ.get("PORT", "0"),
        "RUN_LOG": str(log),
    }

    api = start(["serve", AGENT, "--role", "api"], env)
    workers = [start(["worker", AGENT, "--concurrency", "4"], env) for _ in range(2)]
    try:
        url = wait_line(api, r"serving (http://\S+)").group(1) + "/"
        for worker in workers:
            wait_line(worker, r"worker ready")
        print(f"api at {url}, 2 workers ready", flush=True)

        ids = [send(url, f"hello {n}") for n in range(count)]
        wait_all(url, ids)
        runs: dict[str, int] = {}
        for line in log.read_text().splitlines():
            pid = line.split()[-2]
            runs[pid] = runs.get(pid, 0) + 1
        print(f"completed {len(ids)} tasks; runs per worker pid: {runs}")
    finally:
        codes = []
        for proc in [api, *workers]:
            proc.send_signal(signal.SIGTERM)
        for proc in [api, *workers]:
            codes.append(proc.wait(timeout=30))
    print(f"stopped; exit codes {codes}")
    return 0 if codes == [0, 0, 0] else 1


if __name__ == "__main__":
    raise SystemExit(main())
