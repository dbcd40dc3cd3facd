"""Worker processes for the Redis workloads, and the CPU they burn.

A worker is `python -m actors.cli worker benchmarks.agent:noop` when the
CLI has that command, else `python -m benchmarks.worker_proc`, which opens
the runtime in the worker role itself; either way it is its own process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import redis

from benchmarks import procstats
from benchmarks.agent import redis_env

ROOT = Path(__file__).resolve().parent.parent
CONCURRENCY = "64"


@cache
def worker_command() -> list[str]:
    """How to start one worker process, preferring the project's own CLI."""
    probe = subprocess.run(
        [sys.executable, "-m", "actors.cli", "worker", "--help"],
        cwd=ROOT,
        capture_output=True,
        timeout=60,
    )
    if probe.returncode == 0:
        target = "benchmarks.agent:noop"
        return ["-m", "actors.cli", "worker", target, "--concurrency", CONCURRENCY]
    return ["-m", "benchmarks.worker_proc"]


@contextmanager
def running_workers(url: str, prefix: str, count: int) -> Iterator[list[int]]:
    """Start `count` worker processes on `url`; yield their pids; stop them."""
    env = {**os.environ, **redis_env(url, prefix, "worker")}
    env["WORKER_CONCURRENCY"] = CONCURRENCY
    procs = [
        subprocess.Popen(
            [sys.executable, *worker_command()],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for _ in range(count)
    ]
    try:
        yield [proc.pid for proc in procs]
    finally:
        _stop(procs)


def wait_until_live(url: str, prefix: str, count: int, timeout: float = 30) -> None:
    """Wait until `count` workers' heartbeat keys exist, or `timeout` passes.

    A worker that is not live yet would make a scale-out run look slower
    than it is. Past the timeout the run goes on; the table shows the rate.
    """
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if len(client.keys(f"{prefix}:worker:*")) >= count:
                return
            time.sleep(0.05)
    finally:
        client.close()


def _stop(procs: Sequence[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def cpu_seconds(pids: Sequence[int]) -> dict[int, float]:
    """User+system CPU seconds used so far by each live process in `pids`."""
    used = {}
    for pid in pids:
        seconds = procstats.cpu_seconds(pid)
        if seconds is not None:
            used[pid] = seconds
    return used


def busy_share(before: dict[int, float], after: dict[int, float], wall: float) -> float:
    """How much of all the machine's cores the watched processes used."""
    spent = sum(after[pid] - before.get(pid, 0.0) for pid in after)
    return spent / wall / (os.cpu_count() or 1)


def saturation(
    before: dict[int, float], after: dict[int, float], wall: float, redis_pid: int
) -> str:
    """Say whether Redis or the machine's cores were the limit."""
    spent = {pid: after[pid] - before.get(pid, 0.0) for pid in after}
    cores = os.cpu_count() or 1
    machine = busy_share(before, after, wall)
    redis_share = spent.get(redis_pid, 0.0) / wall
    note = f"cpu {machine:.0%} of {cores} cores, redis {redis_share:.0%} of one"
    if redis_share >= 0.9:
        return note + ": Redis saturated"
    if machine >= 0.9:
        return note + ": cores saturated"
    return note
