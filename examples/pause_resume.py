"""Pause a long task, resume it, and watch it continue where it stopped.

    python examples/pause_resume.py

The agent counts to 10, saving each step through its context. The script
pauses it after step 3; the resumed run loads the saved step and carries on
instead of starting over.
"""

import sys
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from actors import open_runtime  # noqa: E402

STEPS = 10

config = {"name": "counter", "description": "Counts to 10, resumably."}


async def counter(messages, context):
    """Count from the saved step; every await is a point where pause can land."""
    start = (context.load() or {}).get("step", 0)
    for step in range(start + 1, STEPS + 1):
        await trio.sleep(0.05)
        await context.save({"step": step})
        await context.progress(f"step {step}")
    return f"counted to {STEPS}, resumed from step {start}"


async def wait_until(runtime, task_id, done):
    """Follow the task's changes until `done(task)` holds."""
    task = await runtime.get_task(task_id)
    while not done(task):
        task = await runtime.wait_task(task_id, task["metadata"]["version"])
    return task


def step_of(task):
    message = task["status"].get("message") or {"parts": [{"text": "step 0"}]}
    return int(message["parts"][0]["text"].split()[-1])


async def main():
    async with open_runtime(config, counter, serve_http=False) as runtime:
        task = await runtime.run_task("count please")
        await wait_until(runtime, task["id"], lambda t: step_of(t) >= 3)

        paused = await runtime.pause_task(task["id"])
        print(f"paused: {paused['status']['state']} at step {step_of(paused)}")

        resumed = await runtime.resume_task(task["id"])
        attempt = resumed["metadata"]["attempt"]
        print(f"resumed: {resumed['status']['state']}, attempt {attempt}")

        final = await wait_until(
            runtime, task["id"], lambda t: t["status"]["state"] == "completed"
        )
        print(f"completed: {final['status']['message']['parts'][0]['text']}")


if __name__ == "__main__":
    trio.run(main)
