"""A private redis-server for tests: started on a free port, killable, restartable."""

from __future__ import annotations

import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

import attrs

INSTALL_HINT = (
    "redis-server is not installed; the Redis tests need it. "
    "Install it with: sudo apt-get install redis-server"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@attrs.frozen
class TlsFiles:
    ca: Path
    cert: Path
    key: Path


def make_tls_files(directory: Path) -> TlsFiles:
    """A throwaway CA and a server certificate for 127.0.0.1, made by openssl."""
    ca, ca_key = directory / "ca.pem", directory / "ca.key"
    cert, key = directory / "server.pem", directory / "server.key"
    csr, ext = directory / "server.csr", directory / "ext.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1\n")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=test-ca",
        "-keyout",
        str(ca_key),
        "-out",
        str(ca),
    )
    openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        str(key),
        "-out",
        str(csr),
    )
    openssl(
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(ca),
        "-CAkey",
        str(ca_key),
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        str(ext),
        "-out",
        str(cert),
    )
    return TlsFiles(ca, cert, key)


@attrs.define
class RedisServer:
    """One redis-server process bound to 127.0.0.1:`port`.

    `persistent` keeps an append-only file fsynced on every write, so data
    survives `kill()` + `start()`; otherwise nothing is saved.
    """

    port: int = attrs.field(factory=free_port)
    password: str | None = None
    persistent: bool = False
    tls: TlsFiles | None = None
    directory: Path = attrs.field(factory=lambda: Path(tempfile.mkdtemp("-redis")))
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def socket_path(self) -> Path:
        """Where the server also listens as a unix socket."""
        return self.directory / "redis.sock"

    def start(self, timeout: float = 10.0) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not Path(binary).exists():
            raise AssertionError(INSTALL_HINT)

        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        if self.tls is not None:
            args = [binary, "--port", "0", "--tls-port", str(self.port)]
            args += ["--bind", "127.0.0.1", "--tls-auth-clients", "no"]
            args += ["--tls-cert-file", str(self.tls.cert)]
            args += ["--tls-key-file", str(self.tls.key)]
            args += ["--tls-ca-cert-file", str(self.tls.ca)]
        args += ["--save", "", "--dir", str(self.directory)]
        args += ["--unixsocket", str(self.socket_path), "--unixsocketperm", "700"]
        if self.persistent:
            args += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            args += ["--appendonly", "no"]
        if self.password is not None:
            args += ["--requirepass", self.password]
        self.process = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(
                    f"redis-server exited with {self.process.returncode}"
                )
            if self._answers_ping():
                return
            time.sleep(0.02)
        raise AssertionError(f"redis-server on port {self.port} did not answer PING")

    def _answers_ping(self) -> bool:
        auth = b""
        if self.password is not None:
            secret = self.password.encode()
            auth = b"*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n" % (len(secret), secret)
        try:
            with socket.create_connection(("127.0.0.1", self.port), 0.5) as raw:
                sock = raw
                if self.tls is not None:
                    context = ssl.create_default_context(cafile=str(self.tls.ca))
                    sock = context.wrap_socket(raw, server_hostname="127.0.0.1")
                sock.sendall(auth + b"PING\r\n")
                data = b""
                while b"PONG" not in data and len(data) < 200:
                    chunk = sock.recv(200)
                    if not chunk:
                        break
                    data += chunk
                return b"PONG" in data
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL: no shutdown, no save."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        self.kill()
        shutil.rmtree(self.directory, ignore_errors=True)
