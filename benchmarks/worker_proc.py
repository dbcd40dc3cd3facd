"""A worker process for when the CLI has no `worker` command.

Opens the runtime in the role the environment names (AGENT_ROLE=worker),
without HTTP, and runs the no-op handler until SIGTERM or SIGINT.
"""

from __future__ import annotations

import signal

import trio

from actors.app import open_runtime
from benchmarks import agent
from runtime.settings import load_settings


async def main() -> None:
    settings = load_settings()
    async with open_runtime(
        agent.config, agent.noop, settings=settings, serve_http=False
    ):
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                break


if __name__ == "__main__":
    trio.run(main)
