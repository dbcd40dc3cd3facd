"""The handler forms an agent author may write, and how each is called.

`handler(messages)` or `handler(messages, context)`; a plain function, a
coroutine function, or a (async) generator function. Sync code runs in a
worker thread so it never blocks the event loop; when its task is cancelled
or paused the thread is abandoned and its late result thrown away. Items a
generator yields are streamed out one by one through `emit`.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import attrs
import trio

Emit = Callable[[Any], Awaitable[None]]
_DONE = object()


@attrs.frozen
class Handler:
    fn: Callable[..., Any]
    kind: str
    wants_context: bool

    @property
    def name(self) -> str:
        return getattr(self.fn, "__qualname__", repr(self.fn))


def as_handler(fn: Callable[..., Any]) -> Handler:
    """Inspect `fn` once; raises `TypeError` for something we cannot call."""
    if not callable(fn):
        raise TypeError(f"handler must be callable, got {type(fn).__name__}")

    target = fn if inspect.isroutine(fn) else type(fn).__call__
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        params = []

    positional = [
        p
        for p in params
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
    ]
    if not positional:
        raise TypeError(
            "handler must accept the messages: handler(messages) or "
            "handler(messages, context)"
        )

    wants_context = len(positional) >= 2
    return Handler(fn, _kind(target), wants_context)


def _kind(fn: Callable[..., Any]) -> str:
    if inspect.isasyncgenfunction(fn):
        return "asyncgen"
    if inspect.iscoroutinefunction(fn):
        return "async"
    if inspect.isgeneratorfunction(fn):
        return "gen"
    return "sync"


async def invoke(
    handler: Handler,
    messages: list[Any],
    context: Any,
    emit: Emit,
    threads: trio.CapacityLimiter | None = None,
) -> Any:
    """Run the handler once and return its result.

    For generators the result is the list of yielded items, each of which
    was passed to `emit` as it came.
    """
    args = (messages, context) if handler.wants_context else (messages,)

    match handler.kind:
        case "async":
            return await handler.fn(*args)
        case "sync":
            call = partial(handler.fn, *args)
            return await trio.to_thread.run_sync(
                call, abandon_on_cancel=True, limiter=threads
            )
        case "asyncgen":
            return await _drain_async(handler.fn(*args), emit)
        case _:
            return await _drain_sync(handler, args, emit, threads)


async def _drain_async(agen: Any, emit: Emit) -> list[Any]:
    items: list[Any] = []
    try:
        async for item in agen:
            await emit(item)
            items.append(item)
    finally:
        await agen.aclose()
    return items


async def _drain_sync(
    handler: Handler,
    args: tuple[Any, ...],
    emit: Emit,
    threads: trio.CapacityLimiter | None,
) -> list[Any]:
    """Step a sync generator in a thread, one item per thread call."""
    generator = await trio.to_thread.run_sync(
        partial(handler.fn, *args), abandon_on_cancel=True, limiter=threads
    )
    items: list[Any] = []
    while True:
        item = await trio.to_thread.run_sync(
            partial(next, generator, _DONE), abandon_on_cancel=True, limiter=threads
        )
        if item is _DONE:
            return items
        await emit(item)
        items.append(item)
