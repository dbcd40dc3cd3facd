"""The task domain: the actors that schedule and run agent tasks.

`serve(config, handler)` blocks and serves the agent over HTTP;
`open_runtime(config, handler)` runs it inside your own trio program.
"""

from actors.app import Runtime, open_runtime, serve, serve_async

__all__ = ["Runtime", "open_runtime", "serve", "serve_async"]
