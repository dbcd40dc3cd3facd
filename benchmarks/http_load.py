"""HTTP: blocking `message/send` from 16 keep-alive connections.

The load generator is a few lines over raw trio sockets, in its own
process, so it costs far less than the server it drives. A blocking send
answers once the task is completed, so request → reply is request →
completed. Baseline: the same server stack answering a constant reply.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import orjson
import trio

from benchmarks import agent
from benchmarks.harness import Row, describe, emit, is_quick, percentile, unavailable
from benchmarks.redis_server import running_redis
from benchmarks.workers import ROOT

WORKLOAD = "http"
CONNECTIONS = 16
TARGET = 0.5
SERVING = re.compile(rb"serving (\S+)")


def _request(host: str, port: int) -> bytes:
    message = {
        "role": "user",
        "messageId": "m",
        "parts": [{"kind": "text", "text": "x"}],
    }
    params = {"message": message, "configuration": {"blocking": True}}
    body = orjson.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": "message/send", "params": params}
    )
    head = (
        f"POST / HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _read_reply(stream: trio.SocketStream, buffer: bytearray) -> bytes:
    """One HTTP/1.1 response with a Content-Length; leftovers stay in buffer."""
    while b"\r\n\r\n" not in buffer:
        buffer += await _receive(stream)
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    match = re.search(rb"(?i)content-length:\s*(\d+)", head)
    length = int(match.group(1)) if match else 0
    while len(rest) < length:
        rest += await _receive(stream)
    buffer[:] = rest[length:]
    return rest[:length]


async def _receive(stream: trio.SocketStream) -> bytes:
    data = await stream.receive_some(65536)
    if not data:
        raise ConnectionError("server closed the connection")
    return data


async def drive(url: str, seconds: float) -> tuple[float, list[float]]:
    """Requests/s over `seconds`, and each request's latency in seconds."""
    where = urlsplit(url)
    host, port = where.hostname or "127.0.0.1", where.port or 80
    request = _request(host, port)
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def connection(record: bool) -> None:
        stream = await trio.open_tcp_stream(host, port)
        buffer = bytearray()
        async with stream:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                await stream.send_all(request)
                reply = await _read_reply(stream, buffer)
                if b'"error"' in reply:
                    raise RuntimeError(f"server answered an error: {reply[:200]!r}")
                if record:
                    latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for _ in range(CONNECTIONS):
            nursery.start_soon(connection, True)
    return len(latencies) / (time.perf_counter() - started), latencies


@contextmanager
def server(kind: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """Run `benchmarks.http_server KIND` in its own process; yield its URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.http_server", kind],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            found = SERVING.search(line)
            if found:
                yield found.group(1).decode()
                break
        else:
            raise RuntimeError(f"http server {kind} exited with {proc.wait()}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def measure(
    kind: str, seconds: float, env: dict[str, str] | None = None
) -> tuple[float, list[float]]:
    """Warm the server up briefly, then drive it for `seconds`."""
    with server(kind, env) as url:
        trio.run(drive, url, seconds / 4)
        return trio.run(drive, url, seconds)


def _rows(mode: str, bare_rps: float, rps: float, latencies: list[float]) -> list[Row]:
    ratio = rps / bare_rps
    p50, p99 = (percentile(latencies, q) * 1000 for q in (50, 99))
    return [
        Row(
            WORKLOAD,
            f"{mode} completed/s",
            rps,
            "tasks/s",
            bare_rps,
            ratio,
            f">= {TARGET:g}x bare",
            ratio >= TARGET,
        ),
        Row(WORKLOAD, f"{mode} request→completed p50", p50, "ms"),
        Row(WORKLOAD, f"{mode} request→completed p99", p99, "ms"),
    ]


def main() -> None:
    seconds = 0.4 if is_quick() else 8.0
    bare_rps, bare_latencies = measure("bare", seconds)
    rows = [
        Row(WORKLOAD, "bare server req/s", bare_rps, "req/s"),
        Row(WORKLOAD, "bare p50", percentile(bare_latencies, 50) * 1000, "ms"),
    ]
    memory_env = {"SCHEDULER_TYPE": "memory", "HOST": "127.0.0.1", "PORT": "0"}
    rows += _rows("memory", bare_rps, *measure("runtime", seconds, memory_env))
    try:
        with running_redis() as redis:
            prefix = f"bench-{uuid.uuid4().hex[:8]}"
            env = agent.redis_env(redis.url, prefix)
            rows += _rows("redis", bare_rps, *measure("runtime", seconds, env))
    except Exception as exc:  # noqa: BLE001 - reported as an n/a row
        reason = f"redis mode unavailable: {describe(exc)}"
        rows.append(unavailable(WORKLOAD, "redis completed/s", reason, ">= 0.5x bare"))
    emit(rows)


if __name__ == "__main__":
    main()
