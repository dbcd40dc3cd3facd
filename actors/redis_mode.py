"""Redis mode: the Storage and Transport actors that talk to one Redis.

The root supervisor gets a single child, `redis`, which opens the
trio-asyncio loop and the Redis clients and runs a nested supervisor of
storage, transport and a health monitor inside their lifetime. Stopping it
stops the transport first (stop claiming, hand back what is held), then
storage, then closes the clients and the loop, so nothing asyncio is left
pending.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any

import attrs
import trio

from actors.storage.memory import MemoryStorage
from actors.storage.redis import RedisStorage
from actors.transport.memory import MemoryTransport
from actors.transport.redis import RedisTransport
from runtime.aio import open_aio_loop
from runtime.redis_client import Redis, RedisFailure, RedisUnavailable, open_redis
from runtime.settings import Settings
from runtime.supervisor import ChildSpec, RestartPolicy, Supervisor

log = logging.getLogger(__name__)


def redis_children(
    wires: Any,
    settings: Settings,
    running: Callable[[], dict[str, int]] | None = None,
) -> list[ChildSpec]:
    """The children that replace memory storage and transport in Redis mode."""
    return RedisMode(wires, settings, running).children()


@attrs.define
class RedisMode:
    """Owns the asyncio loop, the clients and the Redis actors' supervisor."""

    wires: Any
    settings: Settings
    running: Callable[[], dict[str, int]] | None = None
    reachable: bool | None = None
    live_workers: int = 0
    _supervisor: Supervisor | None = None
    _stopping: bool = False

    def children(self) -> list[ChildSpec]:
        return [ChildSpec("redis", self.run, stop=self.stop)]

    def stop(self) -> None:
        self._stopping = True
        if self._supervisor is not None:
            self._supervisor.stop()

    def health(self) -> dict[str, Any]:
        """Redis reachability and live workers, as last seen by the monitor."""
        assert self.settings.redis is not None
        return {
            "redis": {
                "reachable": bool(self.reachable),
                "url": self.settings.redis.masked,
                "prefix": self.settings.redis_prefix,
            },
            "live_workers": self.live_workers,
        }

    async def run(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        assert self.settings.redis is not None
        block = min(1.0, self.settings.heartbeat_ttl / 2)
        log.info(
            "redis mode url=%s prefix=%s role=%s",
            self.settings.redis.masked,
            self.settings.redis_prefix,
            self.settings.role,
        )
        async with open_aio_loop():
            async with open_redis(self.settings.redis, block_timeout=block) as redis:
                await redis.check_access()
                await self._supervise(redis, block, task_status)

    async def _supervise(self, redis: Redis, block: float, task_status: Any) -> None:
        transport = self._transport(redis, block)
        children = [
            self._storage(redis),
            transport,
            ChildSpec("redis-monitor", partial(self.monitor, redis)),
        ]
        self._supervisor = Supervisor("redis", children, RestartPolicy())
        if self._stopping:
            self._supervisor.stop()
        await self._supervisor.run(task_status=task_status)

    def _storage(self, redis: Redis) -> ChildSpec:
        wires, settings = self.wires, self.settings
        if settings.storage_type != "redis":
            return ChildSpec(
                "storage",
                MemoryStorage(wires.storage.receive, wires.transport.send).run,
            )
        queue_in_redis = settings.scheduler_type == "redis"
        storage = RedisStorage(
            wires.storage.receive,
            redis,
            prefix=settings.redis_prefix,
            poll_interval=settings.heartbeat_interval,
            outbox=None if queue_in_redis else wires.transport.send,
        )
        return ChildSpec("storage", storage.run)

    def _transport(self, redis: Redis, block: float) -> ChildSpec:
        wires, settings = self.wires, self.settings
        if settings.scheduler_type != "redis":
            memory = MemoryTransport(
                wires.transport.receive, wires.deliveries.send, wires.control.send
            )
            return ChildSpec("transport", memory.run)
        transport = RedisTransport(
            wires.transport.receive,
            wires.deliveries.send,
            wires.control.send,
            redis,
            prefix=settings.redis_prefix,
            consume=settings.role != "api",
            heartbeat_interval=settings.heartbeat_interval,
            heartbeat_ttl=settings.heartbeat_ttl,
            block_timeout=block,
            running=self.running,
        )
        return ChildSpec("transport", transport.run, stop=transport.stop)

    async def monitor(
        self, redis: Redis, task_status: Any = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Refresh what `health` reports, once per heartbeat interval."""
        await self._look(redis)
        task_status.started()
        while True:
            await trio.sleep(self.settings.heartbeat_interval)
            await self._look(redis)

    async def _look(self, redis: Redis) -> None:
        prefix = self.settings.redis_prefix
        try:
            workers = await redis.call("smembers", f"{prefix}:workers")
            beats = [f"{prefix}:worker:{w.decode()}" for w in workers]
            self.live_workers = await redis.call("exists", *beats) if beats else 0
            self.reachable = True
        except (RedisUnavailable, RedisFailure):
            self.reachable = False
