"""A runtime running in a thread of its own, for synchronous test drivers.

Hypothesis' state machines call their rules synchronously; this runs the
runtime under its own `trio.run` in a thread and lets the rules call into it
with `trio.from_thread.run`.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import trio

from actors.app import Runtime, open_runtime
from runtime.settings import Settings
from tests.conftest import AGENT
from tests.control import Steered

T = TypeVar("T")


class LiveRuntime:
    def __init__(self, settings: Settings, steered: Any = None, **config: Any) -> None:
        self.settings = settings
        self.config = {**AGENT, **config}
        self.steered = Steered() if steered is None else steered
        self.rt: Runtime | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._thread_main, daemon=True)

    def __enter__(self) -> LiveRuntime:
        self._thread.start()
        self._ready.wait(30)
        if self._failure is not None or self.rt is None:
            raise RuntimeError("runtime did not start") from self._failure
        return self

    def __exit__(self, *exc: object) -> None:
        trio.from_thread.run_sync(self._stop.set, trio_token=self._token)
        self._thread.join(30)

    def call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Await `fn(*args)` inside the runtime's trio loop."""
        return trio.from_thread.run(fn, *args, trio_token=self._token)

    def call_sync(self, fn: Callable[..., T], *args: Any) -> T:
        """Run the plain function `fn(*args)` inside the runtime's trio loop."""
        return trio.from_thread.run_sync(fn, *args, trio_token=self._token)

    def _thread_main(self) -> None:
        try:
            trio.run(self._main)
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            self._failure = exc
            self._ready.set()

    async def _main(self) -> None:
        """Run the runtime, and the steering's own server if it has one."""
        self._stop = trio.Event()
        async with trio.open_nursery() as nursery:
            if hasattr(self.steered, "serve"):
                await nursery.start(self.steered.serve)
            async with open_runtime(
                self.config,
                self.steered.handler,
                settings=self.settings,
                serve_http=False,
            ) as rt:
                self.rt = rt
                self._token = trio.lowlevel.current_trio_token()
                self._ready.set()
                await self._stop.wait()
            nursery.cancel_scope.cancel()
