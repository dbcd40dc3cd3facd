"""A handler steered over TCP by the test process, for worker processes.

Each run connects to 127.0.0.1:STEER_PORT, announces `TASK ATTEMPT PID`,
then obeys one command per line (see `tests.control.perform`). The test sees
the run end (or its process die) when the connection closes.
"""

import os

import trio

from tests.control import STILL_WORKING, perform

config = {"name": "remote_steered", "description": "Steered by the test."}


async def handler(messages, context):
    port = int(os.environ["STEER_PORT"])
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        hello = f"{context.task_id} {context.attempt} {os.getpid()}\n"
        await stream.send_all(hello.encode())
        return await _obey(stream, context)


async def _obey(stream, context):
    pending = b""
    while True:
        data = await stream.receive_some()
        if not data:
            raise RuntimeError("the steering test went away")
        pending += data
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            result = await perform(line.decode(), context)
            if result is not STILL_WORKING:
                return result
