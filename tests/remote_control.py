"""The test side of `tests/agents/remote_steered.py`: a TCP steering server.

It keeps the same registry shape as `tests.control.Steered` (`running`,
`changed`) so the same settle logic works for handlers in other processes.
"""

from __future__ import annotations

from typing import Any

import attrs
import trio


@attrs.define
class RemoteSteered:
    """Runs in worker processes, known here by task id: (attempt, pid, stream)."""

    running: dict[str, tuple[int, int, trio.SocketStream]] = attrs.Factory(dict)
    changed: trio.Event = attrs.Factory(trio.Event)
    port: int = 0

    async def handler(self, messages: list[Any]) -> None:
        raise AssertionError("an API-only process never runs handlers")

    async def serve(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        await trio.serve_listeners(self._connection, listeners, task_status=task_status)

    async def tell(self, task_id: str, command: str) -> None:
        _attempt, _pid, stream = self.running[task_id]
        await stream.send_all(f"{command}\n".encode())

    async def _connection(self, stream: trio.SocketStream) -> None:
        hello = await _read_line(stream)
        task_id, attempt, pid = hello.split()
        entry = (int(attempt), int(pid), stream)
        self.running[task_id] = entry
        self._touch()
        try:
            while await stream.receive_some():
                pass
        except trio.BrokenResourceError:
            pass
        finally:
            if self.running.get(task_id) is entry:
                del self.running[task_id]
            self._touch()

    def _touch(self) -> None:
        self.changed.set()
        self.changed = trio.Event()


async def _read_line(stream: trio.SocketStream) -> str:
    data = b""
    while not data.endswith(b"\n"):
        chunk = await stream.receive_some(1)
        if not chunk:
            raise ConnectionError("handler closed before saying hello")
        data += chunk
    return data.decode().strip()
