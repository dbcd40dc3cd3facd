"""REDIS_URL and the settings around it: every accepted form, every refusal."""

from __future__ import annotations

import ssl

import pytest

from runtime.errors import ConfigError
from runtime.redis_url import parse_redis_url
from runtime.settings import load_settings

SECRET = "p@ss/w#rd%:?"
ENCODED = "p%40ss%2Fw%23rd%25%3A%3F"


class TestParse:
    def test_host_and_port(self) -> None:
        """`redis://host:port` gives that host, port and db 0."""
        target = parse_redis_url("redis://cache.local:6380")

        assert (target.host, target.port, target.db) == ("cache.local", 6380, 0)
        assert not target.tls

    def test_default_port(self) -> None:
        """Without a port, 6379 is used."""
        assert parse_redis_url("redis://cache.local").port == 6379

    def test_db_in_path_and_query(self) -> None:
        """`/5` and `?db=5` both select database 5."""
        assert parse_redis_url("redis://h:1/5").db == 5
        assert parse_redis_url("redis://h:1?db=5").db == 5

    def test_percent_encoded_password(self) -> None:
        """A percent-encoded password decodes to the real one; user is kept."""
        target = parse_redis_url(f"redis://alice:{ENCODED}@h:1/2")

        assert target.username == "alice"
        assert target.password == SECRET
        assert target.client_kwargs()["password"] == SECRET

    def test_password_is_masked(self) -> None:
        """Neither `masked` nor `repr` shows the password."""
        target = parse_redis_url(f"redis://:{ENCODED}@h:1")

        assert SECRET not in target.masked and ENCODED not in target.masked
        assert SECRET not in repr(target) and "***" in target.masked

    def test_raw_password_is_refused_without_echoing_it(self) -> None:
        """A raw `@` in the password fails, and the error hides the password."""
        with pytest.raises(ConfigError) as caught:
            parse_redis_url(f"redis://:{SECRET}@h:1")

        assert "REDIS_URL" in str(caught.value)
        assert SECRET not in str(caught.value)
        assert "p@ss" not in str(caught.value)

    def test_tls_verifies_by_default(self) -> None:
        """`rediss://` turns TLS on with the certificate and host checked."""
        kwargs = parse_redis_url("rediss://h:1").client_kwargs()

        assert kwargs["ssl"] is True
        assert kwargs["ssl_cert_reqs"] == ssl.CERT_REQUIRED
        assert kwargs["ssl_check_hostname"] is True

    def test_tls_ca_file_and_mode(self) -> None:
        """The CA file and verification mode are passed through."""
        target = parse_redis_url("rediss://h:1", ca_file="/ca.pem", cert_reqs="none")
        kwargs = target.client_kwargs()

        assert kwargs["ssl_ca_certs"] == "/ca.pem"
        assert kwargs["ssl_cert_reqs"] == ssl.CERT_NONE

    def test_unix_socket(self) -> None:
        """`unix:///path?db=3` connects to the socket, database 3."""
        target = parse_redis_url("unix:///run/redis.sock?db=3")

        assert target.client_kwargs()["unix_socket_path"] == "/run/redis.sock"
        assert target.db == 3

    @pytest.mark.parametrize(
        "url",
        [
            "http://h:1",
            "redis://h:1/x",
            "redis://h:1/99999",
            "redis://h:1?db=-1",
            "redis://h:notaport",
            "redis://",
            "unix://",
        ],
    )
    def test_bad_urls_fail_naming_the_variable(self, url: str) -> None:
        """Unknown scheme, bad db, bad port and missing host all fail loudly."""
        with pytest.raises(ConfigError, match="REDIS_URL"):
            parse_redis_url(url)


class TestSettings:
    def test_memory_is_the_default(self) -> None:
        """With nothing set the runtime is in memory mode."""
        settings = load_settings({})

        assert (settings.scheduler_type, settings.storage_type) == ("memory", "memory")
        assert not settings.uses_redis

    def test_redis_mode_case_folded(self) -> None:
        """`SCHEDULER_TYPE=Redis` means redis; storage follows the scheduler."""
        settings = load_settings({"SCHEDULER_TYPE": "Redis", "REDIS_URL": "redis://h"})

        assert settings.storage_type == "redis"
        assert settings.redis is not None and settings.redis.host == "h"

    def test_redis_without_url_fails(self) -> None:
        """Redis mode without REDIS_URL fails instead of falling back to memory."""
        with pytest.raises(ConfigError, match="REDIS_URL"):
            load_settings({"SCHEDULER_TYPE": "redis"})

    def test_unknown_scheduler_fails(self) -> None:
        """Any other scheduler name fails, naming the variable."""
        with pytest.raises(ConfigError, match="SCHEDULER_TYPE"):
            load_settings({"SCHEDULER_TYPE": "rabbit"})

    def test_role_and_tls_variables(self) -> None:
        """AGENT_ROLE, REDIS_PREFIX and the TLS variables are read."""
        settings = load_settings(
            {
                "SCHEDULER_TYPE": "redis",
                "REDIS_URL": "rediss://h",
                "REDIS_TLS_CA_FILE": "/ca.pem",
                "REDIS_TLS_CERT_REQS": "optional",
                "REDIS_PREFIX": "{app}",
                "AGENT_ROLE": "worker",
            }
        )

        assert settings.role == "worker" and settings.redis_prefix == "{app}"
        assert settings.redis is not None
        assert settings.redis.ca_file == "/ca.pem"
        assert settings.redis.cert_reqs == "optional"

    def test_bad_role_and_cert_mode_fail(self) -> None:
        """An unknown role or TLS verification mode fails, naming it."""
        with pytest.raises(ConfigError, match="AGENT_ROLE"):
            load_settings({"AGENT_ROLE": "boss"})
        with pytest.raises(ConfigError, match="REDIS_TLS_CERT_REQS"):
            load_settings(
                {
                    "SCHEDULER_TYPE": "redis",
                    "REDIS_URL": "rediss://h",
                    "REDIS_TLS_CERT_REQS": "maybe",
                }
            )


@pytest.mark.parametrize(
    "url",
    [
        "redis://user:hunter2#x@127.0.0.1:6401/0",
        "redis://user:hunter2/x@127.0.0.1:6401/0",
        "redis://user:hunter2?x@127.0.0.1:6401/0",
        "redis://:hunter2?db=abc@h",
        "redis://user:12345/hunter2@127.0.0.1:6401",
        "redis:/u:hunter2@127.0.0.1",
    ],
)
def test_raw_special_characters_never_leak_the_password(url: str) -> None:
    """However the parser trips on a raw password, the error hides it."""
    with pytest.raises(ConfigError) as caught:
        parse_redis_url(url)

    assert "hunter2" not in str(caught.value)
    assert "REDIS_URL" in str(caught.value)


def test_heartbeat_ttl_must_outlast_two_intervals() -> None:
    """A TTL shorter than two beats would make workers reap each other."""
    env = {"WORKER_HEARTBEAT_INTERVAL": "1", "WORKER_HEARTBEAT_TTL": "1.5"}

    with pytest.raises(ConfigError, match="WORKER_HEARTBEAT_TTL"):
        load_settings(env)

    assert load_settings({**env, "WORKER_HEARTBEAT_TTL": "2"}).heartbeat_ttl == 2
