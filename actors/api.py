"""The runtime's operations, for HTTP (JSON-RPC methods) and Python callers.

Both paths ask the TaskManager the same questions, so they behave alike.
"""

from __future__ import annotations

from typing import Any

import attrs
import trio

from actors import protocol
from actors.jsonrpc import Method
from actors.messages import ListQuery, TaskPage
from actors.requests import (
    CancelRequest,
    FetchTask,
    FetchTasks,
    ManagerRequest,
    PauseRequest,
    ResumeRequest,
    SendMessage,
    WaitTask,
)
from actors.task import Message, Task, new_id, to_wire
from runtime.mailbox import ask

ASK_MARGIN = 30.0


@attrs.define
class TaskApi:
    """Task operations that answer A2A `Task` dicts.

    Cancelling a caller abandons its answer; the operation may still happen.
    """

    manager: trio.MemorySendChannel[ManagerRequest]
    blocking_timeout: float = 60.0

    async def run_task(
        self,
        message: Message | str,
        *,
        task_id: str | None = None,
        context_id: str | None = None,
        blocking: bool = False,
        history_length: int | None = None,
    ) -> dict[str, Any]:
        """Send a message (a text or an A2A message dict) and return its task."""
        if isinstance(message, str):
            message = user_message(message)
        timeout = self.blocking_timeout + ASK_MARGIN
        task: Task = await ask(
            self.manager,
            lambda r: SendMessage(message, r, task_id, context_id, blocking),
            timeout,
        )
        return to_wire(task, history_length)

    async def get_task(
        self, task_id: str, history_length: int | None = None
    ) -> dict[str, Any]:
        task: Task = await ask(self.manager, lambda r: FetchTask(task_id, r))
        return to_wire(task, history_length)

    async def list_tasks(
        self, query: ListQuery, history_length: int | None = None
    ) -> dict[str, Any]:
        page: TaskPage = await ask(self.manager, lambda r: FetchTasks(query, r))
        return {
            "tasks": [to_wire(task, history_length) for task in page.tasks],
            "totalSize": page.total,
            "pageSize": query.limit,
            "nextPageToken": "" if page.next_offset is None else str(page.next_offset),
        }

    async def cancel_task(self, task_id: str) -> dict[str, Any]:
        return to_wire(await ask(self.manager, lambda r: CancelRequest(task_id, r)))

    async def pause_task(self, task_id: str) -> dict[str, Any]:
        return to_wire(await ask(self.manager, lambda r: PauseRequest(task_id, r)))

    async def resume_task(self, task_id: str) -> dict[str, Any]:
        return to_wire(await ask(self.manager, lambda r: ResumeRequest(task_id, r)))

    async def wait_task(
        self, task_id: str, after_version: int = 0, timeout: float = 60.0
    ) -> dict[str, Any]:
        """The task once it changes after `after_version`, or as it is at timeout."""
        task: Task = await ask(
            self.manager,
            lambda r: WaitTask(task_id, after_version, timeout, r),
            timeout + ASK_MARGIN,
        )
        return to_wire(task)

    def methods(self) -> dict[str, Method]:
        """The JSON-RPC method table."""
        return {
            "message/send": self._rpc_send,
            "tasks/get": self._rpc_get,
            "tasks/list": self._rpc_list,
            "tasks/cancel": self._rpc_cancel,
            "tasks/pause": self._rpc_pause,
            "tasks/resume": self._rpc_resume,
        }

    async def _rpc_send(self, params: Any) -> dict[str, Any]:
        p = protocol.parse_send(params)
        return await self.run_task(
            p.message,
            task_id=p.task_id,
            context_id=p.context_id,
            blocking=p.blocking,
            history_length=p.history_length,
        )

    async def _rpc_get(self, params: Any) -> dict[str, Any]:
        p = protocol.parse_task(params)
        return await self.get_task(p.task_id, p.history_length)

    async def _rpc_list(self, params: Any) -> dict[str, Any]:
        p = protocol.parse_list(params)
        return await self.list_tasks(p.query, p.history_length)

    async def _rpc_cancel(self, params: Any) -> dict[str, Any]:
        return await self.cancel_task(protocol.parse_task(params).task_id)

    async def _rpc_pause(self, params: Any) -> dict[str, Any]:
        return await self.pause_task(protocol.parse_task(params).task_id)

    async def _rpc_resume(self, params: Any) -> dict[str, Any]:
        return await self.resume_task(protocol.parse_task(params).task_id)


def user_message(text: str) -> Message:
    """An A2A user message holding one text part."""
    return {
        "kind": "message",
        "role": "user",
        "messageId": new_id(),
        "parts": [{"kind": "text", "text": text}],
    }
