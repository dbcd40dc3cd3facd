"""The `agent-runtime` command.

    agent-runtime serve PATH_OR_MODULE:HANDLER [--host H] [--port P]
                        [--role all|api|worker]
    agent-runtime worker PATH_OR_MODULE:HANDLER [--concurrency N]

`worker` runs tasks only (no HTTP); it needs Redis mode (`SCHEDULER_TYPE=redis`).

`PATH_OR_MODULE` is a file path (`examples/echo_agent.py`) or a dotted
module name; if it holds a dict named `config`, that is the agent config.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import os
import sys
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

from runtime.errors import ConfigError

log = logging.getLogger(__name__)

DEFAULT_CONFIG = {"name": "agent", "description": "An agent served by agent-runtime"}


def load_target(target: str) -> tuple[dict[str, Any], Callable[..., Any]]:
    """The (config, handler) named by `PATH_OR_MODULE:HANDLER`."""
    where, sep, attr = target.rpartition(":")
    if not sep or not where or not attr:
        raise ConfigError(
            f"target {target!r} must look like PATH_OR_MODULE:HANDLER, "
            "e.g. examples/echo_agent.py:handler"
        )

    module = _import(where)
    handler = getattr(module, attr, None)
    if not callable(handler):
        raise ConfigError(f"{where} has no callable named {attr!r}")
    config = getattr(module, "config", None) or DEFAULT_CONFIG
    return dict(config), handler


def _import(where: str) -> ModuleType:
    path = Path(where)
    if where.endswith(".py") or path.exists():
        if not path.is_file():
            raise ConfigError(f"no such file: {where}")
        sys.path.insert(0, str(path.resolve().parent))
        spec = importlib.util.spec_from_file_location(path.stem, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    try:
        return importlib.import_module(where)
    except ImportError as exc:
        raise ConfigError(f"cannot import {where!r}: {exc}") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agent-runtime")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve an agent over HTTP")
    serve.add_argument("target", help="PATH_OR_MODULE:HANDLER")
    serve.add_argument("--host", help="overrides the host of deployment.url")
    serve.add_argument("--port", type=int, help="overrides its port")
    serve.add_argument(
        "--role",
        choices=("all", "api", "worker"),
        help="api: take requests only; worker: run tasks only (overrides AGENT_ROLE)",
    )

    worker = commands.add_parser("worker", help="run tasks from Redis, no HTTP")
    worker.add_argument("target", help="PATH_OR_MODULE:HANDLER")
    worker.add_argument(
        "--concurrency", type=int, help="handlers run at once (WORKER_CONCURRENCY)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")

    if getattr(args, "host", None):
        os.environ["HOST"] = args.host
    if getattr(args, "port", None) is not None:
        os.environ["PORT"] = str(args.port)
    if getattr(args, "role", None):
        os.environ["AGENT_ROLE"] = args.role
    if args.command == "worker":
        os.environ["AGENT_ROLE"] = "worker"
        if args.concurrency is not None:
            os.environ["WORKER_CONCURRENCY"] = str(args.concurrency)

    from actors.app import run_until_stopped, serve_async

    try:
        config, handler = load_target(args.target)
    except ConfigError as exc:
        print(f"agent-runtime: {exc}", file=sys.stderr)
        return 2
    return run_until_stopped(partial(serve_async, config, handler))


if __name__ == "__main__":
    raise SystemExit(main())
