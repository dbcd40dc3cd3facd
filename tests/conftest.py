"""Shared fixtures: the runtime in each mode, served on a free loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from actors.app import Runtime, open_runtime
from runtime.settings import Settings

MODES = ["memory"]

AGENT = {"name": "test_agent", "author": "tests@example.com", "description": "t"}


def memory_settings(**changes: Any) -> Settings:
    return Settings(host="127.0.0.1", port=0, heartbeat_interval=0.2, **changes)


@pytest.fixture(params=MODES)
def mode_settings(request: pytest.FixtureRequest) -> Settings:
    """Settings for one mode; every test using it runs once per mode."""
    if request.param == "memory":
        return memory_settings()
    raise AssertionError(f"unknown mode {request.param}")


@asynccontextmanager
async def running_agent(
    handler: Callable[..., Any],
    settings: Settings,
    **config: Any,
) -> AsyncIterator[tuple[Runtime, httpx.AsyncClient]]:
    """The agent served over real HTTP, and a client pointed at it."""
    async with open_runtime({**AGENT, **config}, handler, settings=settings) as rt:
        assert rt.url is not None
        async with httpx.AsyncClient(base_url=rt.url, timeout=30) as client:
            yield rt, client
