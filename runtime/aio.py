"""The one bridge between trio and asyncio libraries (redis-py's client).

`open_aio_loop` opens a trio-asyncio loop for the lifetime of the block;
`aio` wraps an asyncio coroutine function so trio code can await it. No
other module imports asyncio or trio_asyncio.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import trio_asyncio

T = TypeVar("T")


@asynccontextmanager
async def open_aio_loop() -> AsyncIterator[None]:
    """Run asyncio code inside this trio task tree until the block exits.

    Close every asyncio resource (clients, pools) before leaving the block;
    the loop refuses work once it is closed.
    """
    async with trio_asyncio.open_loop():
        yield


def aio(fn: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    """Make the asyncio coroutine function `fn` awaitable from trio."""
    return trio_asyncio.aio_as_trio(fn)  # type: ignore[no-any-return]


async def run_aio(fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Await `fn(*args)`, an asyncio coroutine, from trio."""
    return await trio_asyncio.aio_as_trio(fn)(*args)  # type: ignore[no-any-return]
