"""The benchmark agent: its config, no-op handler and runtime settings.

The handler does nothing so that what is measured is the runtime's own
cost per task, not the agent's.
"""

from __future__ import annotations

import time
from typing import Any

import trio

from runtime.settings import Settings, load_settings

config = {"name": "bench_agent", "description": "a no-op agent for benchmarks"}

# Handler start times by message text, filled by `timed`, read by latency.
STARTS: dict[str, float] = {}


async def noop(messages: list[Any]) -> None:
    """Return at once: a completed task with no reply."""
    return None


async def timed(messages: list[Any]) -> None:
    """Note when the handler started, keyed by the message text."""
    STARTS[messages[-1]["parts"][0]["text"]] = time.perf_counter()


def memory_settings(concurrency: int = 64) -> Settings:
    return Settings(host="127.0.0.1", port=0, concurrency=concurrency)


def redis_env(url: str, prefix: str, role: str = "all", **extra: str) -> dict[str, str]:
    """The environment that puts the runtime in Redis mode on `url`."""
    return {
        "SCHEDULER_TYPE": "redis",
        "REDIS_URL": url,
        "REDIS_PREFIX": prefix,
        "AGENT_ROLE": role,
        "HOST": "127.0.0.1",
        "PORT": "0",
        **extra,
    }


def redis_settings(url: str, prefix: str, role: str = "all", **extra: str) -> Settings:
    return load_settings(redis_env(url, prefix, role, **extra))


async def wait_all_completed(
    rt: Any, task_ids: list[str], timeout: float, lanes: int = 32
) -> None:
    """Return once every task is completed; `TooSlowError` after `timeout`.

    `lanes` callers wait side by side, as the submitters send side by side,
    so the figure is the runtime's throughput, not the latency of one read
    after another. Tasks already done are read once; the rest are waited
    on by version so nothing polls in a loop.
    """

    async def lane(share: list[str]) -> None:
        for task_id in share:
            task = await rt.get_task(task_id)
            while task["status"]["state"] != "completed":
                _check_not_failed(task)
                version = task["metadata"]["version"]
                task = await rt.wait_task(task_id, version, timeout)

    with trio.fail_after(timeout):
        async with trio.open_nursery() as nursery:
            for index in range(lanes):
                nursery.start_soon(lane, task_ids[index::lanes])


def _check_not_failed(task: dict[str, Any]) -> None:
    state = task["status"]["state"]
    if state in ("failed", "canceled", "rejected"):
        raise RuntimeError(f"task {task['id']} ended {state}: {task['metadata']}")
