"""A server process for the HTTP workload: the agent, or the bare stack.

    python -m benchmarks.http_server runtime   # the agent, mode from env
    python -m benchmarks.http_server bare      # constant JSON-RPC reply

The bare server is the same Hypercorn trio worker and Starlette app shape
with nothing behind the route, so the ratio isolates the runtime's cost.
It prints `serving URL` once listening and stops on SIGTERM.
"""

from __future__ import annotations

import signal
import sys
from typing import Any

import orjson
import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from actors.app import open_runtime
from benchmarks import agent
from runtime.settings import load_settings

REPLY = orjson.dumps({"jsonrpc": "2.0", "id": 1, "result": {"kind": "task"}})


async def _constant(request: Request) -> Response:
    await request.body()
    return Response(REPLY, media_type="application/json")


async def _until_signal() -> None:
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            return


async def bare() -> None:
    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    app = Starlette(routes=[Route("/", _constant, methods=["POST"])])
    stop = trio.Event()

    async with trio.open_nursery() as nursery:
        app_any: Any = app
        bound = await nursery.start(
            lambda task_status: serve(
                app_any, config, shutdown_trigger=stop.wait, task_status=task_status
            )
        )
        print(f"serving {bound[0]}", flush=True)
        await _until_signal()
        stop.set()


async def runtime() -> None:
    settings = load_settings()
    async with open_runtime(agent.config, agent.noop, settings=settings) as rt:
        print(f"serving {rt.url}", flush=True)
        await _until_signal()


if __name__ == "__main__":
    trio.run(bare if sys.argv[1:] == ["bare"] else runtime)
