"""TaskManager: the protocol logic behind the HTTP front and the Python API.

It turns requests into storage writes and scheduler operations. A request
that is one storage question (a new task, a read, a list) is passed on to
storage, which answers the asker directly; every other request runs in its
own trio task so a slow one (a blocking send) never holds up the others.
Storage queues a task's run in the same step as the write that makes it
`submitted`, so the manager never schedules runs itself. Control of a task
always writes the intent to storage first; only then is the running handler
signalled, so a lost signal can delay a stop but never undo it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import attrs
import trio

from actors import errors
from actors.messages import (
    CancelTask,
    CreateTask,
    GetTask,
    ListTasks,
    PauseTask,
    Schedule,
    StorageRequest,
)
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
from actors.states import SETTLED, TERMINAL
from actors.storage import client as storage_client
from actors.storage.client import StorageInbox
from actors.task import Task, new_task
from actors.writes import Cancel, FollowUp, Pause, Refused, Resume, Write
from runtime.mailbox import ActorGone, AskTimeout, ask, batches

log = logging.getLogger(__name__)

UNREACHABLE = (AskTimeout, ActorGone, ConnectionError, OSError)


@attrs.define
class TaskManager:
    inbox: trio.MemoryReceiveChannel[ManagerRequest]
    storage: StorageInbox
    scheduler: trio.MemorySendChannel[Schedule]
    blocking_timeout: float = 60.0
    schedule_timeout: float = 10.0

    async def run(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            task_status.started()
            async for batch in batches(self.inbox):
                for request in batch:
                    if not await self._pass_on(request):
                        nursery.start_soon(self._serve, request)

    async def _pass_on(self, request: ManagerRequest) -> bool:
        """Hand a one-question request to storage; False if it needs more."""
        question: StorageRequest
        match request:
            case SendMessage(message, reply, None, context_id, False):
                fresh = new_task(message, context_id)
                question = CreateTask(fresh, reply.translated(error=_client_error))
            case FetchTask(task_id, reply):
                found = reply.translated(_found(task_id), _client_error)
                question = GetTask(task_id, found)
            case FetchTasks(query, reply):
                question = ListTasks(query, reply.translated(error=_client_error))
            case _:
                return False
        try:
            await self.storage.send(question)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            request.reply.fail(ActorGone("task storage has stopped"))
        return True

    async def _serve(self, request: ManagerRequest) -> None:
        try:
            request.reply.send(await self._dispatch(request))
        except Exception as exc:  # noqa: BLE001 - answered as the client's error
            request.reply.fail(_client_error(exc))

    async def _dispatch(self, request: ManagerRequest) -> Any:
        match request:
            case SendMessage():
                return await self._send(request)
            case FetchTask(task_id):
                return await self._fetch(task_id)
            case FetchTasks(query):
                return await storage_client.list_tasks(self.storage, query)
            case CancelRequest(task_id):
                return await self._cancel(task_id)
            case PauseRequest(task_id):
                return await self._pause(task_id)
            case ResumeRequest(task_id):
                return await self._resume(task_id)
            case WaitTask(task_id, after, timeout):
                return await self._wait(task_id, after, timeout)
        raise errors.InternalError(f"unknown request {type(request).__name__}")

    # --- message/send ---------------------------------------------------

    async def _send(self, request: SendMessage) -> Task:
        if request.task_id is None:
            fresh = new_task(request.message, request.context_id)
            task = await storage_client.create_task(self.storage, fresh)
        else:
            task = await self._follow_up(request)

        if request.blocking:
            return await self._settle(task)
        return task

    async def _follow_up(self, request: SendMessage) -> Task:
        assert request.task_id is not None
        current = await self._fetch(request.task_id)
        if request.context_id not in (None, current.context_id):
            raise errors.InvalidParams(
                f"params.message.contextId {request.context_id!r} does not match "
                f"task {current.id}'s context {current.context_id!r}"
            )

        write = FollowUp(request.message)
        return await self._write(current.id, write, _not_waiting_for_input)

    async def _settle(self, task: Task) -> Task:
        """The task once settled, or as it is when the blocking time is up."""
        if task.state in SETTLED:
            return task
        return await self._wait(task.id, task.version, self.blocking_timeout, True)

    async def _wait(
        self, task_id: str, after: int, timeout: float, settled: bool = False
    ) -> Task:
        with trio.move_on_after(timeout):
            task = await storage_client.watch_task(
                self.storage, task_id, after, timeout + 1, settled
            )
            if task is None:
                raise errors.TaskNotFound(f"task {task_id} not found")
            return task
        return await self._fetch(task_id)

    # --- tasks/get, cancel, pause, resume --------------------------------

    async def _fetch(self, task_id: str) -> Task:
        task = await storage_client.get_task(self.storage, task_id)
        if task is None:
            raise errors.TaskNotFound(f"task {task_id} not found")
        return task

    async def _cancel(self, task_id: str) -> Task:
        task = await self._write(task_id, Cancel(), _not_cancelable)
        await self._signal(CancelTask(task_id, task.attempt))
        return task

    async def _pause(self, task_id: str) -> Task:
        task = await self._write(task_id, Pause(), _not_pausable)
        await self._signal(PauseTask(task_id, task.attempt))
        return task

    async def _resume(self, task_id: str) -> Task:
        return await self._write(task_id, Resume(), _not_resumable)

    async def _signal(self, op: CancelTask | PauseTask) -> None:
        """Tell whichever worker runs the task to stop it.

        The state is already stored, so a signal that is lost here only
        delays the stop until the worker re-reads its tasks' states.
        """
        try:
            await ask(self.scheduler, lambda r: Schedule(op, r), self.schedule_timeout)
        except UNREACHABLE as exc:
            log.warning("control signal not sent op=%r error=%r", op, exc)

    async def _write(
        self, task_id: str, write: Write, refusal: Callable[[Task], errors.RpcError]
    ) -> Task:
        try:
            return await storage_client.write_task(self.storage, task_id, write)
        except Refused as exc:
            if exc.task is None:
                raise errors.TaskNotFound(f"task {task_id} not found") from None
            raise refusal(exc.task) from None


def _client_error(exc: BaseException) -> BaseException:
    """What the client hears of `exc`: an `RpcError`, never a traceback."""
    if isinstance(exc, errors.RpcError):
        return exc
    if isinstance(exc, UNREACHABLE):
        return errors.Unavailable(f"task store unreachable: {exc}")
    log.error("request failed error=%r", exc, exc_info=exc)
    return errors.InternalError(f"internal error: {exc!r}")


def _found(task_id: str) -> Callable[[Task | None], Task]:
    """The task as read, or `TaskNotFound` when there is none."""

    def check(task: Task | None) -> Task:
        if task is None:
            raise errors.TaskNotFound(f"task {task_id} not found")
        return task

    return check


def _not_cancelable(task: Task) -> errors.RpcError:
    return errors.TaskNotCancelable(
        f"task {task.id} is {task.state} and cannot be canceled",
        {"state": str(task.state)},
    )


def _not_pausable(task: Task) -> errors.RpcError:
    return errors.TaskNotPausable(
        f"task {task.id} is {task.state}; only submitted or working tasks pause",
        {"state": str(task.state)},
    )


def _not_resumable(task: Task) -> errors.RpcError:
    return errors.TaskNotResumable(
        f"task {task.id} is {task.state}; only suspended tasks resume",
        {"state": str(task.state)},
    )


def _not_waiting_for_input(task: Task) -> errors.RpcError:
    if task.state in TERMINAL:
        reason = f"task {task.id} is {task.state} and accepts no more messages"
    else:
        reason = f"task {task.id} is {task.state}, not waiting for input"
    return errors.UnsupportedOperation(reason, {"state": str(task.state)})
