"""A handler the test steers: each run blocks until told what to do."""

from __future__ import annotations

from typing import Any

import attrs
import trio

COMMANDS = ("complete", "fail", "ask", "save")
STILL_WORKING = object()


async def perform(command: str, context: Any) -> Any:
    """Carry out one command; the run's result, or STILL_WORKING after a save.

    Shared by the in-process and the cross-process steered handlers, so the
    property tests' model means the same thing for both.
    """
    if command == "complete":
        return f"done {context.attempt}"
    if command == "fail":
        raise RuntimeError("told to fail")
    if command == "ask":
        return {"state": "input-required", "prompt": "more please"}
    saved = (context.load() or {}).get("saves", 0) + 1
    await context.save({"saves": saved})
    return STILL_WORKING


@attrs.define
class Steered:
    """Registry of running handlers, keyed by task id.

    `changed` is replaced by a fresh event after every start and stop, so a
    waiter can sleep until the registry changes instead of polling.
    """

    running: dict[str, tuple[int, trio.MemorySendChannel[str]]] = attrs.Factory(dict)
    started: list[tuple[str, int]] = attrs.Factory(list)
    loaded: dict[tuple[str, int], Any] = attrs.Factory(dict)
    changed: trio.Event = attrs.Factory(trio.Event)

    async def handler(self, messages: list[Any], context: Any) -> Any:
        commands, inbox = trio.open_memory_channel[str](16)
        key = (context.task_id, context.attempt)
        self.running[context.task_id] = (context.attempt, commands)
        self.started.append(key)
        self.loaded[key] = context.load()
        self._touch()
        try:
            return await self._obey(inbox, context)
        finally:
            if self.running.get(context.task_id, (None,))[0] == context.attempt:
                del self.running[context.task_id]
            self._touch()

    async def _obey(self, inbox: trio.MemoryReceiveChannel[str], context: Any) -> Any:
        async for command in inbox:
            result = await perform(command, context)
            if result is not STILL_WORKING:
                return result
        raise AssertionError("command channel closed")

    def tell(self, task_id: str, command: str) -> None:
        _attempt, commands = self.running[task_id]
        commands.send_nowait(command)

    async def wait_running(self, task_id: str, attempt: int) -> None:
        while self.running.get(task_id, (None,))[0] != attempt:
            await self.changed.wait()

    async def wait_stopped(self, task_id: str) -> None:
        while task_id in self.running:
            await self.changed.wait()

    def _touch(self) -> None:
        self.changed.set()
        self.changed = trio.Event()
