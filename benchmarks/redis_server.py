"""A private, throwaway redis-server on a free loopback port.

Benchmarks never touch a shared Redis: their numbers would be skewed by
other users, and their keys would litter it.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import attrs
import redis


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@attrs.frozen
class RedisServer:
    url: str
    pid: int


@contextmanager
def running_redis() -> Iterator[RedisServer]:
    """Start redis-server without persistence; yield where it is; stop it.

    Raises `RuntimeError` when redis-server is missing or will not start.
    """
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-redis-") as workdir:
        args = [binary, "--port", str(port), "--bind", "127.0.0.1"]
        args += ["--save", "", "--appendonly", "no", "--dir", workdir]
        try:
            proc = subprocess.Popen(
                args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        except OSError as exc:
            raise RuntimeError(f"cannot start redis-server: {exc}") from None
        try:
            _wait_ready(port)
            yield RedisServer(f"redis://127.0.0.1:{port}/0", proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def redis_version(url: str) -> str:
    client = redis.Redis.from_url(url)
    try:
        return str(client.info("server")["redis_version"])
    finally:
        client.close()


def _wait_ready(port: int, timeout: float = 10.0) -> None:
    client = redis.Redis(host="127.0.0.1", port=port)
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.ping()
            client.close()
            return
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server on {port} did not start") from None
            time.sleep(0.05)
