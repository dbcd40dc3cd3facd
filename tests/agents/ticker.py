"""A handler that ticks until stopped, logging to TICK_LOG, for control tests.

`tick` makes it write `tick TASK ATTEMPT` every 20 ms forever; any other
text answers at once. When the run ends, however it ends, it writes
`stopped TASK ATTEMPT`.
"""

import os

import trio

config = {"name": "ticker", "description": "Ticks until canceled or paused."}


def _log(line: str) -> None:
    with open(os.environ["TICK_LOG"], "a") as out:
        out.write(line + "\n")


async def handler(messages, context):
    text = messages[-1]["parts"][0]["text"]
    if text != "tick":
        return f"done: {text}"

    try:
        while True:
            await trio.sleep(0.02)
            _log(f"tick {context.task_id} {context.attempt}")
    finally:
        _log(f"stopped {context.task_id} {context.attempt}")
