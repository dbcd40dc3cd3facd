"""Regressions for inputs and handlers that once broke the runtime."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import trio

from actors.app import open_runtime
from tests.conftest import AGENT, memory_settings, running_agent
from tests.helpers import rpc, send, user_message
from tests.test_operations import wait_state

TERMINAL = {"completed", "failed", "canceled"}


class Unprintable(Exception):
    def __str__(self) -> str:
        raise ValueError("no str")


@pytest.mark.parametrize(
    "error", [SystemExit(3), KeyboardInterrupt(), GeneratorExit(), Unprintable()]
)
async def test_any_exception_from_a_handler_fails_only_its_task(
    error: BaseException,
) -> None:
    """Even a SystemExit raised by a handler fails the task, not the process."""

    async def handler(messages: list[Any]) -> str:
        if messages[-1]["parts"][0]["text"] == "boom":
            raise error
        return "fine"

    async with running_agent(handler, memory_settings()) as (_rt, client):
        failed = await send(client, "boom", blocking=True)
        after = await send(client, "next", blocking=True)

    assert failed["status"]["state"] == "failed"
    assert failed["metadata"]["error"].startswith(type(error).__name__)
    assert after["status"]["state"] == "completed"


async def test_resume_right_after_pause_runs_despite_slow_cleanup() -> None:
    """The new attempt runs while the paused one is still unwinding."""
    cleaning = trio.Event()

    async def handler(messages: list[Any], context: Any) -> str:
        if context.attempt > 1:
            return f"attempt {context.attempt}"
        try:
            await trio.sleep_forever()
        finally:
            with trio.CancelScope(shield=True):
                cleaning.set()
                await trio.sleep(0.3)
        return "unreachable"

    settings = memory_settings()
    async with open_runtime(AGENT, handler, settings=settings, serve_http=False) as rt:
        task = await rt.run_task("x")
        await wait_state(rt, task["id"], {"working"})
        await rt.pause_task(task["id"])
        await cleaning.wait()
        await rt.resume_task(task["id"])
        final = await wait_state(rt, task["id"], TERMINAL)

    assert final["status"]["message"]["parts"][0]["text"] == "attempt 2"


async def test_abandoned_sync_handlers_do_not_starve_new_runs() -> None:
    """Fifty cancelled, still-blocked sync handlers leave room for new ones."""
    release = threading.Event()

    def handler(messages: list[Any]) -> str:
        if messages[-1]["parts"][0]["text"] == "block":
            release.wait(60)
        return "ok"

    settings = memory_settings()
    config = {**AGENT, "worker_concurrency": 10}
    async with open_runtime(config, handler, settings=settings, serve_http=False) as rt:
        for _ in range(5):
            blocked = [await rt.run_task("block") for _ in range(10)]
            for task in blocked:
                await wait_state(rt, task["id"], {"working"})
            for task in blocked:
                await rt.cancel_task(task["id"])
        fresh = await rt.run_task("quick", blocking=True)
        release.set()

    assert fresh["status"]["state"] == "completed"


async def test_bad_progress_fails_the_handler_and_keeps_the_task_readable() -> None:
    """progress() with a non-string raises in the handler; reads still work."""

    async def handler(messages: list[Any], context: Any) -> str:
        await context.progress(object())
        return "unreachable"

    async with running_agent(handler, memory_settings()) as (_rt, client):
        task = await send(client, "x", blocking=True)
        read = await rpc(client, "tasks/get", {"id": task["id"]})

    assert task["status"]["state"] == "failed"
    assert "progress takes a str" in task["metadata"]["error"]
    assert read["result"]["id"] == task["id"]


async def test_too_deep_json_is_refused_before_anything_is_stored() -> None:
    """JSON that can be read but not written back is invalid params."""
    deep: Any = 1
    for _ in range(300):
        deep = [deep]
    message = user_message("x")
    message["parts"].append({"kind": "data", "data": {"deep": deep}})

    async with running_agent(len, memory_settings()) as (_rt, client):
        reply = await rpc(client, "message/send", {"message": message}, id=9)
        listed = await rpc(client, "tasks/list", {})

    assert (reply["error"]["code"], reply["id"]) == (-32602, 9)
    assert "params.message" in reply["error"]["message"]
    assert listed["result"]["totalSize"] == 0


async def test_odd_ids_tokens_and_notifications() -> None:
    """Fractional ids are echoed, bad page tokens are invalid params, and a
    notification gets no reply even when it fails."""
    async with running_agent(len, memory_settings()) as (_rt, client):
        fractional = await rpc(client, "tasks/list", {}, id=1.5)
        token = await rpc(client, "tasks/list", {"pageToken": "²"})
        long_token = await rpc(client, "tasks/list", {"pageToken": "1" * 5000})
        silent = await client.post("/", json={"jsonrpc": "2.0", "method": "nope"})

    assert fractional["id"] == 1.5 and "result" in fractional
    assert token["error"]["code"] == long_token["error"]["code"] == -32602
    assert silent.status_code == 204 and silent.content == b""


async def test_results_that_look_like_parts_but_are_not() -> None:
    """Malformed part-like results become data, never a crash or a bad part."""
    results = iter([{"state": ["a"]}, {"kind": ["a"]}, {"kind": "text", "text": 5}])

    def handler(messages: list[Any]) -> Any:
        return next(results)

    async with running_agent(handler, memory_settings()) as (_rt, client):
        tasks = [await send(client, "x", blocking=True) for _ in range(3)]

    assert [t["status"]["state"] for t in tasks] == ["completed"] * 3
    assert all(t["artifacts"][0]["parts"][0]["kind"] == "data" for t in tasks)
