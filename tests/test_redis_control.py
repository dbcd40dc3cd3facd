"""Cancel and pause reach a handler running in another worker process."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import trio

from actors.app import Runtime, open_runtime
from tests.conftest import AGENT, redis_settings
from tests.redis_server import RedisServer
from tests.test_redis_processes import Proc, deployment_env, procs, start

__all__ = ["procs"]

TARGET = "tests/agents/ticker.py:handler"


def lines(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


async def until(check: Callable[[], bool], timeout: float = 20) -> None:
    """Re-check a condition on another process's log file until it holds."""
    with trio.fail_after(timeout):
        while not check():
            await trio.sleep(0.02)


async def finished(rt: Runtime, task_id: str) -> str:
    task = await rt.get_task(task_id)
    while task["status"]["state"] not in ("completed", "failed", "canceled"):
        task = await rt.wait_task(task_id, task["metadata"]["version"], 10)
    return str(task["status"]["state"])


@pytest.mark.parametrize("operation", ["cancel", "pause"])
async def test_handler_in_a_worker_process_stops(
    operation: str,
    redis_server: RedisServer,
    tmp_path: Path,
    procs: list[Proc],
) -> None:
    """After cancel or pause, the remote handler stops ticking for good."""
    env = deployment_env(redis_server.url, tmp_path, TICK_LOG=str(tmp_path / "t"))
    log = tmp_path / "t"
    await start(procs, ["worker", TARGET, "--concurrency", "4"], env)
    settings = redis_settings(
        redis_server.url, REDIS_PREFIX=env["REDIS_PREFIX"], AGENT_ROLE="api"
    )

    async with open_runtime(AGENT, len, settings=settings, serve_http=False) as rt:
        task = await rt.run_task("tick")
        ticking = f"tick {task['id']} 1"
        await until(lambda: lines(log).count(ticking) >= 3)

        reply = await getattr(rt, f"{operation}_task")(task["id"])
        await until(lambda: f"stopped {task['id']} 1" in lines(log))
        ticks = lines(log).count(ticking)
        other = await rt.run_task("after")
        state = await finished(rt, other["id"])
        final = await rt.get_task(task["id"])

    expected = {"cancel": "canceled", "pause": "suspended"}[operation]
    assert reply["status"]["state"] == final["status"]["state"] == expected
    assert state == "completed"
    assert lines(log).count(ticking) == ticks
