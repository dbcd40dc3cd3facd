"""The agent's own config dict, as passed to `serve(config, handler)`.

Identity keys (`author`, `name`, `description`, `version`, `deployment`,
`skills`) describe the agent; runtime keys tune it. An unknown or mistyped
key fails at start with a message naming it. `HOST` and `PORT` in the
environment override the host and port of `deployment.url`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import attrs

from runtime.errors import ConfigError
from runtime.settings import Settings

DEFAULT_URL = "http://127.0.0.1:3773"


@attrs.frozen
class AgentConfig:
    name: str
    author: str = ""
    description: str = ""
    version: str = "1.0.0"
    url: str = DEFAULT_URL
    expose: bool = False
    skills: tuple[Any, ...] = ()
    worker_concurrency: int = 8
    task_timeout: float | None = None
    blocking_timeout: float = 60.0
    max_body_bytes: int = 1_048_576

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        """The port to bind; 0 asks the system for a free one."""
        port = urlsplit(self.url).port
        return 80 if port is None else port


_TYPES: dict[str, tuple[type, ...]] = {
    "name": (str,),
    "author": (str,),
    "description": (str,),
    "version": (str,),
    "skills": (list, tuple),
    "worker_concurrency": (int,),
    "task_timeout": (int, float, type(None)),
    "blocking_timeout": (int, float),
    "max_body_bytes": (int,),
}
_DEPLOYMENT_TYPES: dict[str, tuple[type, ...]] = {"url": (str,), "expose": (bool,)}


def load_agent_config(
    config: Mapping[str, Any], settings: Settings | None = None
) -> AgentConfig:
    """Validate `config`, then apply the environment's overrides."""
    if not isinstance(config, Mapping):
        raise ConfigError(f"config must be a dict, got {type(config).__name__}")

    values = _checked(config, _TYPES | {"deployment": (Mapping,)}, "config")
    deployment = _checked(values.pop("deployment", {}), _DEPLOYMENT_TYPES, "deployment")
    if "name" not in values:
        raise ConfigError("config['name'] is required: the agent's name")

    _check_positive(values, "worker_concurrency", "blocking_timeout", "max_body_bytes")
    url = _url(deployment.get("url", DEFAULT_URL), settings)
    agent = AgentConfig(**values, url=url, expose=deployment.get("expose", False))
    return _with_runtime_env(agent, settings)


def _checked(
    config: Mapping[str, Any], types: dict[str, tuple[type, ...]], where: str
) -> dict[str, Any]:
    values = {}
    for key, value in config.items():
        if key not in types:
            known = ", ".join(sorted(types))
            raise ConfigError(f"unknown key {where}[{key!r}]; known keys: {known}")
        if isinstance(value, bool) and bool not in types[key]:
            value = object()
        if not isinstance(value, types[key]):
            wanted = " or ".join(t.__name__ for t in types[key])
            raise ConfigError(f"{where}[{key!r}] must be {wanted}, got {value!r}")
        values[key] = tuple(value) if key == "skills" else value  # type: ignore[arg-type]
    return values


def _check_positive(values: dict[str, Any], *keys: str) -> None:
    for key in keys:
        if key in values and values[key] <= 0:
            raise ConfigError(f"config[{key!r}] must be > 0, got {values[key]!r}")
    timeout = values.get("task_timeout")
    if timeout is not None and timeout <= 0:
        raise ConfigError(f"config['task_timeout'] must be > 0, got {timeout!r}")


def _url(url: str, settings: Settings | None) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"deployment['url'] must look like http://host:port, got {url!r}"
        )

    host = parts.hostname
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if settings is not None:
        host = settings.host or host
        port = settings.port if settings.port is not None else port
    shown_host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{shown_host}:{port}"


def _with_runtime_env(agent: AgentConfig, settings: Settings | None) -> AgentConfig:
    if settings is None:
        return agent
    changes: dict[str, Any] = {}
    if settings.concurrency is not None:
        changes["worker_concurrency"] = settings.concurrency
    if settings.task_timeout is not None:
        changes["task_timeout"] = settings.task_timeout
    return attrs.evolve(agent, **changes) if changes else agent


def agent_card(agent: AgentConfig, streaming: bool) -> dict[str, Any]:
    """The A2A agent card served at /.well-known/agent.json."""
    return {
        "protocolVersion": "0.3.0",
        "name": agent.name,
        "description": agent.description,
        "version": agent.version,
        "url": agent.url + "/",
        "preferredTransport": "JSONRPC",
        "provider": {"organization": agent.author, "url": agent.url},
        "capabilities": {
            "streaming": streaming,
            "pushNotifications": False,
            "stateTransitionHistory": False,
        },
        "defaultInputModes": ["text/plain", "application/json"],
        "defaultOutputModes": ["text/plain", "application/json"],
        "skills": [_skill(skill) for skill in agent.skills],
    }


def _skill(skill: Any) -> dict[str, Any]:
    if isinstance(skill, Mapping):
        return dict(skill)
    name = str(skill).rstrip("/").rsplit("/", 1)[-1]
    return {"id": name, "name": name, "description": str(skill), "tags": [name]}
