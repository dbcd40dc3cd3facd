"""Every example runs as documented, so the docs cannot rot."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from tests.processes import ROOT, agent_process


def run_client(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "examples/client.py", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_echo_agent_answers_the_client() -> None:
    """The echo agent serves over HTTP; the client follows its task to the end."""
    with agent_process(["examples/echo_agent.py"]) as (_proc, url, _lines):
        output = run_client(url + "/", "hi there")

    assert "completed: echo: hi there" in output.splitlines()


def test_slow_agent_reports_progress_and_can_be_canceled() -> None:
    """The slow agent shows progress; the client cancels it midway."""
    env = {"SLOW_AGENT_STEPS": "400", "SLOW_AGENT_STEP_SECONDS": "0.02"}
    with agent_process(["examples/slow_agent.py"], env) as (_proc, url, _lines):
        output = run_client(url + "/", "count", "--cancel-after", "0.5")

    lines = output.splitlines()
    assert any(line.startswith("working: step ") for line in lines)
    assert lines[-1] == "canceled"


def test_cli_serves_a_handler_from_a_path() -> None:
    """`agent-runtime serve PATH:HANDLER` serves the module's handler and config."""
    args = ["-m", "actors.cli", "serve", "examples/echo_agent.py:handler"]
    with agent_process(args) as (_proc, url, _lines):
        output = run_client(url + "/", "via cli")

    assert "completed: echo: via cli" in output.splitlines()


def test_pause_resume_example_continues_where_it_stopped() -> None:
    """The resumed run starts from the saved step, not from zero."""
    done = subprocess.run(
        [sys.executable, "examples/pause_resume.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = done.stdout.splitlines()

    assert done.returncode == 0, done.stdout + done.stderr
    paused_step = int(lines[0].rsplit(" ", 1)[-1])
    resumed_from = int(lines[-1].rsplit(" ", 1)[-1])
    assert lines[0].startswith("paused: suspended at step ")
    assert lines[1] == "resumed: submitted, attempt 2"
    assert lines[-1].startswith("completed: counted to 10")
    assert 3 <= paused_step <= resumed_from < 10


def test_port_in_use_fails_with_one_clear_line() -> None:
    """A port that is taken ends the process with exit 2 and says why."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "examples/echo_agent.py"],
            cwd=ROOT,
            env={**os.environ, "PORT": str(port)},
            capture_output=True,
            text=True,
            timeout=60,
        )

    last = done.stderr.splitlines()[-1]
    assert done.returncode == 2
    assert "Address already in use" in last and f"PORT 127.0.0.1:{port}" in last
    assert done.stderr.count("actor crashed") == 1  # refused at once, no retries
    assert "Traceback" not in done.stderr
