"""Who waits for which task to change, shared by every storage.

A watcher waits for a version newer than the one it saw, or, with
`settled`, for the task to settle (end, or wait for the user): a blocking
send then wakes once instead of at every step of its run.
"""

from __future__ import annotations

from collections.abc import Iterator

import attrs

from actors.states import SETTLED, TaskState
from actors.task import Task
from runtime.mailbox import Reply


@attrs.frozen
class _Watch:
    after: int
    settled: bool
    reply: Reply[Task | None]

    def is_met_by(self, task: Task | None) -> bool:
        if task is None:
            return True  # the task vanished: nothing more will happen
        if self.settled and task.state not in SETTLED:
            return False
        return task.version > self.after


@attrs.define
class Watchers:
    _waiting: dict[str, list[_Watch]] = attrs.field(factory=dict)

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._waiting

    def __iter__(self) -> Iterator[str]:
        """The ids of the watched tasks."""
        return iter(self._waiting)

    def wants(self, task_id: str, state: TaskState | None) -> bool:
        """Could a new version in `state` (None: unknown) answer a watcher?"""
        waiting = self._waiting.get(task_id, ())
        if state is None or state in SETTLED:
            return bool(waiting)
        return any(not watch.settled for watch in waiting)

    def add(
        self,
        task_id: str,
        after: int,
        reply: Reply[Task | None],
        settled: bool = False,
    ) -> None:
        self._waiting.setdefault(task_id, []).append(_Watch(after, settled, reply))

    def answer(self, task_id: str, task: Task | None) -> None:
        """Answer the watchers of `task_id` that `task` satisfies."""
        waiting = self._waiting.pop(task_id, None)
        if not waiting:
            return
        still = []
        for watch in waiting:
            if watch.is_met_by(task):
                watch.reply.send(task)
            else:
                still.append(watch)
        if still:
            self._waiting[task_id] = still
