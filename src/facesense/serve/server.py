"""Run the web app under uvicorn: bind first (so the printed address is the real one, port 0
included), warn when the app is reachable from other machines, pass TLS files through."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import sys
from pathlib import Path

from ..errors import FacesenseError
from ..runs import write_text
from .limits import ServeLimits


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise FacesenseError(f"cannot listen on {host}:{port} ({exc.strerror}); choose another --port or --host") from None
    sock.listen(128)
    return sock


def guarded_http(head_timeout: float):
    """uvicorn's HTTP/1.1 protocol plus two guards it lacks: a connection beyond the bound is
    closed at once (uvicorn only refuses its request, after the head has arrived), and a request
    head (request line and headers) must arrive within `head_timeout` seconds of the connection
    or of the previous answer, so connections that trickle bytes cannot be held open for good."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class GuardedH11Protocol(H11Protocol):
        _head_timer = None

        def connection_made(self, transport):
            super().connection_made(transport)
            if self.limit_concurrency is not None and len(self.connections) >= self.limit_concurrency:  # (the bound + 1: see uvicorn_config)
                transport.close()
                return
            self._arm()

        def _arm(self) -> None:
            self._disarm()
            self._head_timer = self.loop.call_later(head_timeout, self._head_too_slow)

        def _disarm(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_too_slow(self) -> None:
            if (self.cycle is None or self.cycle.response_complete) and not self.transport.is_closing():
                self.transport.close()

        def handle_events(self) -> None:
            super().handle_events()
            upgraded = self.transport.get_protocol() is not self  # a WebSocket took the connection over
            if upgraded or (self.cycle is not None and not self.cycle.response_complete):
                self._disarm()  # the head is in; the body has the app's own time limit

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm()

        def connection_lost(self, exc) -> None:
            self._disarm()
            super().connection_lost(exc)

    return GuardedH11Protocol


def check_certificate(certfile: str, keyfile: str) -> None:
    """Load the pair as uvicorn will, before the page is announced: a file that is not PEM, or a
    key of another certificate, is a user's mistake with a fix, not a traceback at start-up."""
    import ssl

    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(certfile, keyfile)
    except (ssl.SSLError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or str(exc)
        raise FacesenseError(
            f"--ssl-certfile {certfile} / --ssl-keyfile {keyfile}: not a PEM certificate and its private key ({reason}); "
            "make a pair with `openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -subj /CN=localhost`"
        ) from None


def uvicorn_config(app, limits: ServeLimits, ssl_certfile: str | None = None, ssl_keyfile: str | None = None, log_level: str = "warning"):
    import uvicorn

    for name, path in (("--ssl-certfile", ssl_certfile), ("--ssl-keyfile", ssl_keyfile)):
        if path and not Path(path).is_file():
            raise FacesenseError(f"{name} {path}: file not found")
    if bool(ssl_certfile) != bool(ssl_keyfile):
        raise FacesenseError("--ssl-certfile and --ssl-keyfile go together (the certificate and its private key)")
    if ssl_certfile:
        check_certificate(ssl_certfile, ssl_keyfile)
    return uvicorn.Config(
        app,
        http=guarded_http(min(10.0, limits.request_timeout_s)),
        log_level=log_level,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
        # uvicorn answers 503 once the open connections, the asking one counted, reach its limit:
        # +1 lets --max-connections N hold N (1 refused every request)
        limit_concurrency=limits.max_connections + 1,
        timeout_keep_alive=int(limits.keep_alive_s),
        # twice the frame limit: a frame over it gets the app's own JSON error, not a bare close
        ws_max_size=int(2 * limits.max_frame_mb * 2**20) + 1024,
        ws_ping_interval=20,
        ws_ping_timeout=20,
        timeout_graceful_shutdown=5,
    )


# `--host` values that listen on every interface, which no browser can open by that name
EVERY_INTERFACE = ("0.0.0.0", "::", "")


def _other_devices_address(host: str) -> str | None:
    """Where other devices may reach a server listening on every interface (`--host 0.0.0.0`,
    which no browser can open): this machine's address on its default route. None for a
    specific host, and inside a container, whose own address is not the one published."""
    if host not in EVERY_INTERFACE or any(Path(p).exists() for p in ("/.dockerenv", "/run/.containerenv")):
        return None
    family = socket.AF_INET6 if host == "::" else socket.AF_INET
    probe = ("2001:db8::1", 9) if family == socket.AF_INET6 else ("192.0.2.1", 9)  # documentation addresses
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as udp:
            udp.connect(probe)  # picks the route; a datagram socket sends nothing on connect
            return udp.getsockname()[0]
    except OSError:  # no route (an offline machine)
        return None


def _url(scheme: str, host: str, port: int) -> str:
    return f"{scheme}://{f'[{host}]' if ':' in host else host}:{port}/"


def _read_urls(url_file: Path) -> list[str]:
    try:
        return url_file.read_text().split()
    except (OSError, UnicodeDecodeError):
        return []


def _answers(url: str) -> bool:
    """Whether something accepts connections at the host and port of `url`."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        with socket.create_connection((parts.hostname, parts.port), timeout=1):
            return True
    except (OSError, ValueError, TypeError):
        return False


def claim_url_file(url_file: Path, local: str) -> None:
    """Add this server's address to `url_file`, one address a line, the running servers' first:
    the container's health check asks each in turn. Two `serve` in one container (on two ports)
    each keep their line; addresses nobody answers at (a server that was killed) are dropped."""
    with _locked(url_file):
        others = [url for url in _read_urls(url_file) if url != local and _answers(url)]
        write_text(url_file, "".join(f"{url}\n" for url in [*others, local]))


def release_url_file(url_file: Path, local: str) -> None:
    """Take this server's address out of `url_file`; the file goes with the last address. A
    server stopping never fails for it (the folder may be gone)."""
    with contextlib.suppress(OSError), _locked(url_file):
        others = [url for url in _read_urls(url_file) if url != local]
        if others:
            write_text(url_file, "".join(f"{url}\n" for url in others))
        else:
            url_file.unlink(missing_ok=True)


@contextlib.contextmanager
def _locked(url_file: Path):
    """One server at a time reads and rewrites the file (two starting at once lost a line): a
    lock on a file beside it, which stays (removing it would race the next taker)."""
    try:
        import fcntl

        lock = open(url_file.with_name(url_file.name + ".lock"), "a")
    except (ImportError, OSError):  # Windows has no flock; a folder gone or another user's lock file: unlocked
        yield
        return
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def serve(app, sock: socket.socket, host: str, limits: ServeLimits, token: str | None = None, ssl_certfile: str | None = None, ssl_keyfile: str | None = None,
          url_file: Path | None = None) -> None:
    """Serve on `sock` (what `bind(host, port)` gave, before the models loaded: a port in use is
    said at once) until stopped, closing it then (or when the settings are refused). `url_file`: where to write the
    page's local address while serving (a container's health check reads it, so it follows
    --port and https)."""
    import uvicorn

    try:
        config = uvicorn_config(app, limits, ssl_certfile, ssl_keyfile)
    except BaseException:
        sock.close()
        raise
    if not is_loopback(host):
        print(
            f"warning: listening on {host}, reachable from other machines; "
            + ("requests need the access token" if token else "anyone who reaches it can use it: add --token or set FACESENSE_TOKEN"),
            file=sys.stderr,
        )
    scheme, port = "https" if ssl_certfile else "http", sock.getsockname()[1]
    every = host in EVERY_INTERFACE
    other = _other_devices_address(host)
    here = "::1" if host == "::" else "127.0.0.1"  # a v6-only socket does not answer on 127.0.0.1
    local = _url(scheme, here if every else host, port)
    # before the address is printed: whoever reads that may look for it
    if url_file is not None:
        claim_url_file(url_file, local)
    print(f"facesense page on {local}"
          + (f" (other devices: {_url(scheme, other, port)})" if other else "") + "  (API docs at /docs; Ctrl-C stops)", flush=True)
    class Server(uvicorn.Server):
        def handle_exit(self, sig, frame) -> None:
            begin = getattr(app.state, "begin_stopping", None)  # (the app's lifespan made it)
            if begin is not None:
                begin()
            super().handle_exit(sig, frame)

    try:
        Server(config).run(sockets=[sock])
    finally:
        sock.close()
        if url_file is not None:
            release_url_file(url_file, local)
