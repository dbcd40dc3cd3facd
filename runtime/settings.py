"""Runtime settings, read once from the environment and validated.

Every value is checked at start; a bad one raises `ConfigError` naming the
variable, the value (secrets masked) and what is accepted. Nothing falls
back silently: `SCHEDULER_TYPE=redis` without `REDIS_URL` is an error, not
memory mode. Mode names are case-folded (`Redis` means `redis`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import attrs

from runtime.errors import ConfigError
from runtime.redis_url import RedisTarget, parse_redis_url

MODES = ("memory", "redis")
ROLES = ("all", "api", "worker")


@attrs.frozen
class Settings:
    """Everything the runtime reads from the environment."""

    scheduler_type: str = "memory"
    storage_type: str = "memory"
    redis: RedisTarget | None = None
    redis_prefix: str = "bindu"
    concurrency: int | None = None
    max_attempts: int = 3
    task_timeout: float | None = None
    heartbeat_interval: float = 1.0
    heartbeat_ttl: float = 5.0
    host: str | None = None
    port: int | None = None
    role: str = "all"

    @property
    def uses_redis(self) -> bool:
        return "redis" in (self.scheduler_type, self.storage_type)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build `Settings` from `env` (default: `os.environ`)."""
    env = os.environ if env is None else env

    scheduler = _choice(env, "SCHEDULER_TYPE", MODES, "memory")
    storage = _choice(env, "STORAGE_TYPE", MODES, scheduler)
    redis = _redis_target(env, needed="redis" in (scheduler, storage))

    interval = _seconds(env, "WORKER_HEARTBEAT_INTERVAL", 1.0) or 1.0
    ttl = _seconds(env, "WORKER_HEARTBEAT_TTL", 5.0) or 5.0
    if ttl < 2 * interval:
        raise ConfigError(
            f"WORKER_HEARTBEAT_TTL={ttl} is not valid with "
            f"WORKER_HEARTBEAT_INTERVAL={interval}; accepted: a TTL of at least "
            "twice the interval, or live workers are taken for dead"
        )

    return Settings(
        scheduler_type=scheduler,
        storage_type=storage,
        redis=redis,
        redis_prefix=_prefix(env),
        concurrency=_int(env, "WORKER_CONCURRENCY", None, low=1, high=10_000),
        max_attempts=_int(env, "TASK_MAX_ATTEMPTS", 3, low=1, high=1_000) or 3,
        task_timeout=_seconds(env, "TASK_TIMEOUT", None),
        heartbeat_interval=interval,
        heartbeat_ttl=ttl,
        host=env.get("HOST") or None,
        port=_int(env, "PORT", None, low=0, high=65_535),
        role=_choice(env, "AGENT_ROLE", ROLES, "all"),
    )


def _choice(
    env: Mapping[str, str], name: str, accepted: tuple[str, ...], default: str
) -> str:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default

    value = raw.strip().lower()
    if value not in accepted:
        raise ConfigError(
            f"{name}={raw!r} is not valid; accepted: {', '.join(accepted)} "
            "(case-insensitive)"
        )
    return value


def _int(
    env: Mapping[str, str], name: str, default: int | None, *, low: int, high: int
) -> int | None:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default

    value = raw.strip()
    if not value.isdigit() or not low <= int(value) <= high:
        raise ConfigError(
            f"{name}={raw!r} is not valid; accepted: a whole number "
            f"from {low} to {high}"
        )
    return int(value)


def _seconds(env: Mapping[str, str], name: str, default: float | None) -> float | None:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default

    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value < 10**7:
        raise ConfigError(f"{name}={raw!r} is not valid; accepted: seconds > 0")
    return value


def _prefix(env: Mapping[str, str]) -> str:
    raw = env.get("REDIS_PREFIX", "bindu")
    if not raw or any(c.isspace() for c in raw):
        raise ConfigError(
            f"REDIS_PREFIX={raw!r} is not valid; accepted: a non-empty name "
            "without spaces, e.g. bindu or {bindu} for Redis Cluster"
        )
    return raw


def _redis_target(env: Mapping[str, str], *, needed: bool) -> RedisTarget | None:
    url = env.get("REDIS_URL", "").strip()
    if not url:
        if needed:
            raise ConfigError(
                "REDIS_URL is not set, but SCHEDULER_TYPE or STORAGE_TYPE is "
                "redis; set it, e.g. REDIS_URL=redis://127.0.0.1:6379/0"
            )
        return None

    return parse_redis_url(
        url,
        ca_file=env.get("REDIS_TLS_CA_FILE") or None,
        cert_reqs=(env.get("REDIS_TLS_CERT_REQS") or "required").strip().lower(),
    )
