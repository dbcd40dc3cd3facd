"""The `context` a two-argument handler receives.

It names the task, reports progress, and keeps resumable progress: what a
handler `save`s is stored with the task, and a later attempt (after pause
and resume, or after a lost worker) finds it again through `load`. Writes
from a run that was cancelled, paused or superseded are refused and ignored.
"""

from __future__ import annotations

from typing import Any

import attrs
import orjson
import trio

from actors.storage.client import StorageInbox, write_task
from actors.writes import Progress, Refused, Save


@attrs.define
class TaskContext:
    task_id: str
    context_id: str
    attempt: int
    _saved: Any
    _storage: StorageInbox

    def load(self) -> Any:
        """What the latest run saved, or None."""
        return self._saved

    async def save(self, data: Any) -> bool:
        """Store `data` with the task; False if this run no longer owns it.

        Raises `TypeError` if `data` is not JSON-serializable.
        """
        _check_json(data)
        try:
            await write_task(self._storage, self.task_id, Save(self.attempt, data))
        except Refused:
            return False
        self._saved = data
        return True

    async def progress(self, text: str) -> bool:
        """Show `text` as the task's status message while it works."""
        if not isinstance(text, str):
            raise TypeError(f"progress takes a str, got {type(text).__name__}")
        try:
            await write_task(self._storage, self.task_id, Progress(self.attempt, text))
        except Refused:
            return False
        return True

    def save_sync(self, data: Any) -> bool:
        """`save` for sync handlers running in a worker thread."""
        return bool(trio.from_thread.run(self.save, data))

    def progress_sync(self, text: str) -> bool:
        """`progress` for sync handlers running in a worker thread."""
        return bool(trio.from_thread.run(self.progress, text))


def _check_json(data: Any) -> None:
    try:
        orjson.dumps(data)
    except TypeError as exc:
        raise TypeError(f"saved progress must be JSON-serializable: {exc}") from None
