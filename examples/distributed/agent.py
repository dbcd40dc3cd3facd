"""A small agent for the distributed example and its tests.

It answers `done: TEXT`. A message `sleep:SECONDS` makes it work that long
first; `sleep-once:SECONDS` does so only in the first attempt (so a worker
can be killed mid-task and the next attempt finishes at once), and
`sleep-twice:SECONDS` in the first two. When
`RUN_LOG` names a file, every run appends one line `TEXT PID ATTEMPT` to
it, which is how the tests count how many times each handler ran and where.
"""

import os

import trio

config = {
    "author": "you@example.com",
    "name": "distributed_agent",
    "description": "Answers every message; runs on any worker process.",
    "deployment": {"url": "http://127.0.0.1:3773", "expose": True},
}


async def handler(messages, context):
    """Log the run, sleep if asked to, then answer."""
    text = " ".join(
        part["text"] for part in messages[-1]["parts"] if part["kind"] == "text"
    )
    log = os.environ.get("RUN_LOG")
    if log:
        with open(log, "a") as out:
            out.write(f"{text} {os.getpid()} {context.attempt}\n")
    if (
        text.startswith("sleep:")
        or (text.startswith("sleep-once:") and context.attempt == 1)
        or (text.startswith("sleep-twice:") and context.attempt <= 2)
    ):
        await trio.sleep(float(text.split(":", 1)[1]))
    return f"done: {text}"
