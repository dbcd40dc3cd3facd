"""Shared fixtures: the runtime in each mode, served on a free loopback port."""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from actors.app import Runtime, open_runtime
from runtime.settings import Settings, load_settings
from tests.redis_server import RedisServer

MODES = ["memory", "redis"]

AGENT = {"name": "test_agent", "author": "tests@example.com", "description": "t"}


def memory_settings(**changes: Any) -> Settings:
    return Settings(host="127.0.0.1", port=0, heartbeat_interval=0.2, **changes)


@pytest.fixture(params=MODES)
def mode_settings(request: pytest.FixtureRequest) -> Settings:
    """Settings for one mode; every test using it runs once per mode."""
    if request.param == "memory":
        return memory_settings()
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        return redis_settings(server.url)
    raise AssertionError(f"unknown mode {request.param}")


_prefixes = itertools.count(1)


def redis_settings(url: str, **env: str) -> Settings:
    """Redis-mode settings with a prefix of its own, so tests never collide."""
    return load_settings(
        {
            "SCHEDULER_TYPE": "redis",
            "REDIS_URL": url,
            "REDIS_PREFIX": f"t{os.getpid()}-{next(_prefixes)}",
            "HOST": "127.0.0.1",
            "PORT": "0",
            "WORKER_HEARTBEAT_INTERVAL": "0.2",
            "WORKER_HEARTBEAT_TTL": "1",
            **env,
        }
    )


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A private redis-server shared by the session; tests use unique prefixes.

    Tests that kill or restart Redis start a `RedisServer` of their own.
    """
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


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
