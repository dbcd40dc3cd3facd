"""A long-running agent that reports progress, for trying cancel and pause.

    python examples/slow_agent.py          # serves on 127.0.0.1:3773
    python examples/client.py http://127.0.0.1:3773/ "count" --cancel-after 1

It counts to `STEPS`, reporting each step and saving how far it got, so a
paused task resumes where it stopped.
"""

import os
import sys
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from actors import serve  # noqa: E402

STEPS = int(os.environ.get("SLOW_AGENT_STEPS", "20"))
STEP_SECONDS = float(os.environ.get("SLOW_AGENT_STEP_SECONDS", "0.5"))

config = {
    "author": "you@example.com",
    "name": "slow_agent",
    "description": "Counts slowly, reporting progress; cancel or pause it.",
    "deployment": {"url": "http://127.0.0.1:3773", "expose": True},
    "skills": ["skills/counting"],
}


async def handler(messages, context):
    """Count from where the last run stopped; each step is a checkpoint."""
    step = (context.load() or {}).get("step", 0)
    while step < STEPS:
        await trio.sleep(STEP_SECONDS)
        step += 1
        await context.save({"step": step})
        await context.progress(f"step {step} of {STEPS}")
    return f"counted to {STEPS}"


if __name__ == "__main__":
    serve(config, handler)
