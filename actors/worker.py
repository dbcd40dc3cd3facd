"""WorkerPool: claims run operations and runs the handler, `concurrency` at once.

Each run lives in its own cancel scope so a cancel or pause signal stops
exactly that handler at its next checkpoint. Every write is fenced by the
attempt number, so the outcome of an interrupted or superseded run is
refused by storage and never recorded. A delivery is acknowledged only
after its outcome is stored (or storage said the run is not ours any more);
a run cut short by shutdown is left unacknowledged so a durable transport
hands it to another worker.
"""

from __future__ import annotations

import logging
from typing import Any

import attrs
import trio

from actors.context import TaskContext
from actors.handlers import Handler, invoke
from actors.messages import Ack, Control, Delivery, RunTask
from actors.outcome import artifact, failure, finish_for, finish_streamed, to_parts
from actors.states import TaskState
from actors.storage.client import StorageInbox, get_task, write_task
from actors.task import Task
from actors.writes import AddArtifact, Claim, Finish, Lost, Refused
from runtime.mailbox import AskTimeout

log = logging.getLogger(__name__)


@attrs.define
class _Run:
    attempt: int
    scope: trio.CancelScope = attrs.field(factory=trio.CancelScope)
    interrupted: bool = False
    claimed: bool = False


@attrs.define
class WorkerPool:
    deliveries: trio.MemoryReceiveChannel[Delivery]
    control: trio.MemoryReceiveChannel[Control]
    storage: StorageInbox
    transport: trio.MemorySendChannel[Any]
    handler: Handler
    concurrency: int = 8
    task_timeout: float | None = None
    max_attempts: int = 3
    recheck_interval: float = 1.0
    _running: dict[str, _Run] = attrs.field(factory=dict)
    _intake: trio.CancelScope = attrs.field(factory=trio.CancelScope)

    def stop(self) -> None:
        """Stop taking deliveries; runs in hand go on to their end."""
        self._intake.cancel()

    def running(self) -> dict[str, int]:
        """Task id -> attempt of every handler running now."""
        return {task_id: run.attempt for task_id, run in self._running.items()}

    async def run(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        if not self._intake.cancel_called:
            # A cancel scope serves one `with` block; a restart needs a new one.
            self._intake = trio.CancelScope()
        async with trio.open_nursery() as control:
            control.start_soon(self._control_loop)
            control.start_soon(self._recheck_loop)
            async with trio.open_nursery() as runs:
                task_status.started()
                await self._intake_loop(runs)
            control.cancel_scope.cancel()

    async def _intake_loop(self, runs: trio.Nursery) -> None:
        slots = trio.Semaphore(self.concurrency)
        with self._intake:
            while True:
                await slots.acquire()
                try:
                    delivery = await self.deliveries.receive()
                except (trio.EndOfChannel, trio.Cancelled):
                    slots.release()
                    raise
                runs.start_soon(self._execute, delivery, slots)

    async def _control_loop(self) -> None:
        async for op in self.control:
            self._interrupt(op.task_id)

    def _interrupt(self, task_id: str) -> None:
        run = self._running.get(task_id)
        if run is not None:
            run.interrupted = True
            run.scope.cancel()

    async def _recheck_loop(self) -> None:
        """Re-read the state of every running task now and then.

        Cancel and pause signals can be lost (a dropped pub/sub message, a
        restarted transport); this bounds the delay of such a stop to one
        interval instead of forever.
        """
        while True:
            await trio.sleep(self.recheck_interval)
            claimed = [(i, r) for i, r in self._running.items() if r.claimed]
            for task_id, run in claimed:
                try:
                    task = await get_task(self.storage, task_id)
                except (ConnectionError, OSError, AskTimeout):
                    break  # storage unreachable (Redis down): next interval
                if _superseded(task, run.attempt) and self._running.get(task_id) is run:
                    self._interrupt(task_id)

    async def _execute(self, delivery: Delivery, slots: trio.Semaphore) -> None:
        op = delivery.op
        try:
            if op.task_id in self._running:
                await self._ack(delivery)
                return
            run = _Run(op.attempt)
            self._running[op.task_id] = run
            try:
                with run.scope:
                    await self._attempt(op)
            finally:
                del self._running[op.task_id]
            if not run.scope.cancelled_caught or run.interrupted:
                await self._ack(delivery)
        except Exception as exc:  # noqa: BLE001 - one bad run must not stop the pool
            log.error("run crashed task_id=%s error=%r", op.task_id, exc)
        finally:
            slots.release()

    async def _attempt(self, op: RunTask) -> None:
        task = await self._claim(op)
        if task is None:
            return
        run = self._running[op.task_id]
        run.attempt, run.claimed = task.attempt, True

        finish = await self._outcome(task)
        try:
            await write_task(self.storage, task.id, finish)
        except Refused:
            pass

    async def _claim(self, op: RunTask) -> Task | None:
        """Take the run, or None when it is stale, cancelled or paused.

        A run that storage shows as `working` in this very attempt was handed
        out before and its worker is gone (a durable transport redelivered
        it): it is written off as lost, which either queues it as the next
        attempt, claimed here at once, or fails it at the attempt limit.
        """
        try:
            return await write_task(self.storage, op.task_id, Claim(op.attempt))
        except Refused as exc:
            task = exc.task
            if task is None or not _was_lost(task, op):
                return None

        lost = Lost(op.attempt, self.max_attempts)
        try:
            task = await write_task(self.storage, op.task_id, lost)
            if task.state is not TaskState.SUBMITTED:
                return None
            return await write_task(self.storage, op.task_id, Claim(task.attempt))
        except Refused:
            return None

    async def _outcome(self, task: Task) -> Finish:
        """Run the handler and turn what happened into the finishing write."""
        context = TaskContext(
            task.id, task.context_id, task.attempt, task.saved, self.storage
        )

        async def emit(item: Any) -> None:
            chunk = AddArtifact(task.attempt, artifact(to_parts(item)))
            await write_task(self.storage, task.id, chunk)

        try:
            with trio.fail_after(self.task_timeout or float("inf")):
                result = await invoke(self.handler, list(task.history), context, emit)
        except trio.TooSlowError:
            return failure(f"timed out after {self.task_timeout}s", task.attempt)
        except Exception as exc:  # noqa: BLE001 - the handler's error is the outcome
            return failure(f"{type(exc).__name__}: {exc}", task.attempt)

        try:
            if self.handler.kind in ("gen", "asyncgen"):
                return finish_streamed(result, task.attempt)
            return finish_for(result, task.attempt)
        except TypeError as exc:
            return failure(str(exc), task.attempt)

    async def _ack(self, delivery: Delivery) -> None:
        if delivery.token is not None:
            await self.transport.send(Ack(delivery.token))


def _was_lost(task: Task, op: RunTask) -> bool:
    return task.state is TaskState.WORKING and task.attempt == op.attempt


def _superseded(task: Task | None, attempt: int) -> bool:
    """True when the run of `attempt` no longer owns the task."""
    if task is None:
        return True
    return task.state is not TaskState.WORKING or task.attempt != attempt
