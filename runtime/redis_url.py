"""Parse and validate `REDIS_URL` without ever echoing its password."""

from __future__ import annotations

import ssl
from urllib.parse import parse_qs, unquote, urlsplit

import attrs

from runtime.errors import ConfigError

SCHEMES = ("redis", "rediss", "unix")
MAX_DB = 15_999
_RAW_PASSWORD_CHARS = set("@/#?")
_ENCODE_HINT = (
    "percent-encode special characters in the password "
    "(@ as %40, / as %2F, # as %23, ? as %3F, % as %25, : as %3A)"
)


@attrs.frozen
class RedisTarget:
    """Where and how to connect; `repr` and `masked` hide the password."""

    scheme: str
    host: str | None
    port: int | None
    path: str | None
    db: int
    username: str | None
    password: str | None = attrs.field(repr=False)
    ca_file: str | None = None
    cert_reqs: str = "required"

    @property
    def tls(self) -> bool:
        return self.scheme == "rediss"

    @property
    def masked(self) -> str:
        """The URL with the password replaced by `***`, safe to log."""
        user = self.username or ""
        auth = f"{user}:***@" if self.password else (f"{user}@" if user else "")
        if self.scheme == "unix":
            return f"unix://{auth}{self.path}?db={self.db}"
        return f"{self.scheme}://{auth}{self.host}:{self.port}/{self.db}"

    def client_kwargs(self) -> dict[str, object]:
        """Keyword arguments for redis-py's client constructors."""
        kwargs: dict[str, object] = {
            "db": self.db,
            "username": self.username,
            "password": self.password,
        }
        if self.scheme == "unix":
            kwargs["unix_socket_path"] = self.path
            return kwargs

        kwargs.update(host=self.host, port=self.port)
        if self.tls:
            kwargs.update(
                ssl=True,
                ssl_ca_certs=self.ca_file,
                ssl_cert_reqs=_CERT_REQS[self.cert_reqs],
                ssl_check_hostname=self.cert_reqs == "required",
            )
        return kwargs


_CERT_REQS = {
    "required": ssl.CERT_REQUIRED,
    "optional": ssl.CERT_OPTIONAL,
    "none": ssl.CERT_NONE,
}


def parse_redis_url(
    url: str,
    *,
    variable: str = "REDIS_URL",
    ca_file: str | None = None,
    cert_reqs: str = "required",
) -> RedisTarget:
    """Validate `url` and split it into a `RedisTarget`.

    Accepts `redis://[user[:password]@]host[:port][/db]`, `rediss://` for
    TLS, `unix:///path/to.sock`, and `?db=N` on any of them. Raises
    `ConfigError` naming `variable`; the password never appears in it.
    """
    shown = _mask(url)
    if cert_reqs not in _CERT_REQS:
        accepted = ", ".join(_CERT_REQS)
        raise ConfigError(
            f"REDIS_TLS_CERT_REQS={cert_reqs!r} is not valid; accepted: {accepted}"
        )

    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        # The parser's own message may quote part of the password: not shown.
        raise ConfigError(
            f"{variable}={shown} is not a valid URL (bad port or host); {_ENCODE_HINT}"
        ) from None

    if parts.scheme not in SCHEMES:
        accepted = ", ".join(f"{s}://" for s in SCHEMES)
        raise ConfigError(
            f"{variable}={shown} has unknown scheme {parts.scheme!r}; "
            f"accepted: {accepted}"
        )

    _reject_raw_password(url, variable, shown)
    db = _parse_db(parts.path, parts.query, parts.scheme, variable, shown)
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None

    if parts.scheme == "unix":
        if not parts.path:
            raise ConfigError(f"{variable}={shown} names no socket path")
        return RedisTarget(
            "unix", None, None, parts.path, db, username, password, ca_file, cert_reqs
        )

    if not parts.hostname:
        raise ConfigError(f"{variable}={shown} names no host")
    return RedisTarget(
        parts.scheme,
        parts.hostname,
        port or 6379,
        None,
        db,
        username,
        password,
        ca_file,
        cert_reqs,
    )


def _parse_db(path: str, query: str, scheme: str, variable: str, shown: str) -> int:
    """The database number from `/N` (not for unix) or `?db=N`; default 0."""
    raw: str | None = None
    if scheme != "unix" and path.strip("/"):
        raw = path.strip("/")

    values = parse_qs(query).get("db")
    if values:
        raw = values[-1]

    if raw is None:
        return 0
    if not raw.isdigit() or int(raw) > MAX_DB:
        raise ConfigError(
            f"{variable}={shown} has a database part that is not valid; "
            f"accepted: a whole number from 0 to {MAX_DB}"
        )
    return int(raw)


def _reject_raw_password(url: str, variable: str, shown: str) -> None:
    """Refuse a userinfo part holding characters that must be percent-encoded.

    `urlsplit` would otherwise cut such a URL at the wrong place and connect
    somewhere unexpected with half a password.
    """
    rest = url.split("://", 1)[1] if "://" in url else url
    if rest.count("@") > 1:
        raise ConfigError(
            f"{variable}={shown} holds more than one '@'; percent-encode "
            "special characters in the password (@ as %40, / as %2F, # as %23, "
            "? as %3F, % as %25, : as %3A)"
        )


def _mask(url: str) -> str:
    """Hide everything between the first ':' after the scheme and the last '@'."""
    if "://" not in url:
        return repr(url) if "@" not in url else "'<unparsable, hidden>'"

    scheme, rest = url.split("://", 1)
    if "@" not in rest:
        return f"{scheme}://{rest}"

    userinfo, host = rest.rsplit("@", 1)
    user = userinfo.split(":", 1)[0]
    secret = ":***" if ":" in userinfo else ""
    return f"{scheme}://{user}{secret}@{host}"
