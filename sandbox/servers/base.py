"""The plumbing shared by the sandbox API servers: a threaded HTTP runner and fault injection.

Each fake vendor API is a :class:`SandboxServer` subclass that turns a parsed :class:`Request`
into a :class:`Response`; this module does the HTTP (keep-alive, chunked streaming bodies), the
request log tests assert on, scripted faults (``server.script("/api/2/export", [504,
200])``) and scripted delays (``server.delay("/api/2/export", 5.0)``) so retry and timeout
paths can be tested over real sockets without timing tricks. ``server.latency`` (a
:class:`~sandbox.servers.latency.Latency`) delays every answer like a remote API, and
``server.max_in_flight`` says how many requests it was answering at once at most.

Servers bind to 127.0.0.1 and, by default, to a free port chosen by the OS (port 0), so tests
can run in parallel. Example::

    with MixpanelServer(exports_dir) as server:
        requests.get(f"{server.url}/api/2.0/export", ...)
        assert [r.status for r in server.requests] == [200]
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import chain
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from sandbox.servers.latency import Latency

log = logging.getLogger(__name__)

#: Statuses a script may name; 200 means "answer normally".
PASS = 200


class AbortConnection(Exception):  # noqa: N818 - a signal, not an error
    """Raised by a streamed body to drop the connection mid-response (a network fault)."""


@dataclass(frozen=True)
class Request:
    """One parsed HTTP request, as the API handlers see it."""

    method: str
    path: str
    query: dict[str, str]
    headers: Message
    body: bytes = b""
    #: The raw query string, for parameters that repeat (``?properties=a&properties=b``).
    query_string: str = ""

    def query_values(self, name: str) -> list[str]:
        """Every value of a query parameter, in order (``query`` keeps only the last one)."""
        return [
            value
            for key, value in parse_qsl(self.query_string, keep_blank_values=True)
            if key == name
        ]

    def form(self) -> dict[str, str]:
        """The form-encoded body (last value wins for repeated fields)."""
        return dict(parse_qsl(self.body.decode("utf-8", errors="replace"), keep_blank_values=True))

    def params(self) -> dict[str, str]:
        """Query string and form body together, form fields winning (Mixpanel accepts both)."""
        content_type = self.headers.get("Content-Type", "")
        form = self.form() if "application/x-www-form-urlencoded" in content_type else {}
        return {**self.query, **form}

    def basic_auth(self) -> tuple[str, str] | None:
        """The ``(username, password)`` of an HTTP Basic header, or None if absent/malformed."""
        header = self.headers.get("Authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic" or not encoded:
            return None
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        username, sep, password = decoded.partition(":")
        return (username, password) if sep else None

    def accepts_gzip(self) -> bool:
        """True if the client sent ``Accept-Encoding`` including gzip."""
        return "gzip" in self.headers.get("Accept-Encoding", "").lower()


@dataclass
class Response:
    """What a handler answers; ``body`` may be an iterator, streamed with chunked encoding."""

    status: int
    body: bytes | Iterable[bytes] = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
        """A JSON response."""
        body = json.dumps(payload).encode("utf-8")
        return cls(status, body, {"Content-Type": "application/json", **(headers or {})})

    @classmethod
    def text(cls, status: int, text: str, headers: Mapping[str, str] | None = None) -> Response:
        """A plain-text response."""
        body = text.encode("utf-8")
        return cls(status, body, {"Content-Type": "text/plain; charset=utf-8", **(headers or {})})


@dataclass(frozen=True)
class RequestRecord:
    """One served request, for tests: ``params`` merges query string and form body."""

    method: str
    path: str
    status: int
    params: dict[str, str] = field(default_factory=dict)
    #: The raw request body (JSON APIs such as HubSpot's carry everything here).
    body: bytes = b""


def maybe_gzip(
    chunks: Iterable[bytes], *, accept_gzip: bool, threshold: int = 1400
) -> tuple[dict[str, str], bytes | Iterator[bytes]]:
    """Headers and body for a streamed payload, gzip-encoded like Mixpanel's export.

    Mixpanel compresses only bodies larger than 1,400 bytes, and only when asked. The first
    ``threshold`` bytes are buffered to decide; the rest streams through ``zlib`` unbuffered.
    """
    stream = iter(chunks)
    head = bytearray()
    for chunk in stream:
        head += chunk
        if len(head) > threshold:
            break
    else:
        return {}, bytes(head)
    if not accept_gzip:
        return {}, chain([bytes(head)], stream)

    def compressed() -> Iterator[bytes]:
        compressor = zlib.compressobj(6, zlib.DEFLATED, 31)  # wbits 31: gzip container
        yield compressor.compress(bytes(head))
        for chunk in stream:
            if out := compressor.compress(chunk):
                yield out
        yield compressor.flush()

    return {"Content-Encoding": "gzip"}, compressed()


class SlidingWindowLimit:
    """At most ``limit`` hits in any ``period`` seconds; says how long to wait when exceeded."""

    def __init__(
        self, limit: int, period: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.period = period
        self._clock = clock
        self._hits: deque[float] = deque()
        self._lock = threading.Lock()

    def hit(self) -> float | None:
        """Record a hit and return None, or return the seconds until one would be allowed."""
        with self._lock:
            now = self._clock()
            while self._hits and now - self._hits[0] >= self.period:
                self._hits.popleft()
            if len(self._hits) >= self.limit:
                return self.period - (now - self._hits[0])
            self._hits.append(now)
            return None

    def remaining(self) -> int:
        """How many hits the window still allows right now (for rate-limit headers)."""
        with self._lock:
            now = self._clock()
            while self._hits and now - self._hits[0] >= self.period:
                self._hits.popleft()
            return max(0, self.limit - len(self._hits))


class ServerHandle:
    """A server running in a background thread; a context manager that stops it on exit."""

    def __init__(self, server: ThreadingHTTPServer, thread: threading.Thread) -> None:
        self.server = server
        self.thread = thread
        host, port = server.server_address[:2]
        self.url = f"http://{host}:{port}"

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop accepting requests, close the socket and wait for the serving thread."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def _make_server(
    handler_factory: Callable[..., BaseHTTPRequestHandler], host: str, port: int
) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((host, port), handler_factory)
    # Keep-alive connections must not keep a stopped server (or pytest) from exiting.
    server.daemon_threads = True
    return server


def run_in_thread(
    handler_factory: Callable[..., BaseHTTPRequestHandler], host: str = "127.0.0.1", port: int = 0
) -> ServerHandle:
    """Serve ``handler_factory`` on ``host:port`` (0 = a free port) in a daemon thread."""
    server = _make_server(handler_factory, host, port)
    # A short poll interval makes stop() return in ~50 ms instead of the default 0.5 s.
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name="sandbox-server",
        daemon=True,
    )
    thread.start()
    return ServerHandle(server, thread)


def serve_forever(
    handler_factory: Callable[..., BaseHTTPRequestHandler],
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    announce: Callable[[str], None] = print,
) -> None:
    """Serve in the foreground until interrupted (the ``recur sandbox`` entry point)."""
    server = _make_server(handler_factory, host, port)
    bound_host, bound_port = server.server_address[:2]
    announce(f"serving on http://{bound_host}:{bound_port}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


class SandboxServer:
    """Base of the fake vendor APIs: request log, scripted faults, and the HTTP glue.

    Subclasses implement :meth:`handle`. Use the instance as a context manager (it starts a
    thread and exposes ``.url``), or call :meth:`serve_forever` from a CLI.
    """

    #: Headers sent with scripted error statuses, by status.
    scripted_headers: Mapping[int, Mapping[str, str]] = {429: {"Retry-After": "0"}}

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scripts: list[tuple[str, deque[int | str]]] = []
        self._delays: list[tuple[str, float, list[int]]] = []
        self.requests: list[RequestRecord] = []
        self._handle: ServerHandle | None = None
        #: Delays every answer (after the request was handled and logged); None answers at once.
        self.latency: Latency | None = None
        self._in_flight = 0
        #: The most requests this server was answering at the same time.
        self.max_in_flight = 0

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> ServerHandle:
        """Start serving in a background thread; returns the handle (also kept on ``self``)."""
        if self._handle is not None:
            raise RuntimeError(f"{type(self).__name__} is already running at {self.url}")
        self._handle = run_in_thread(self.handler_factory(), host, port)
        return self._handle

    def stop(self) -> None:
        """Stop the background server if running."""
        if self._handle is not None:
            self._handle.stop()
            self._handle = None

    def serve_forever(self, host: str = "127.0.0.1", port: int = 0, **kwargs: Any) -> None:
        """Serve in the foreground until interrupted."""
        serve_forever(self.handler_factory(), host, port, **kwargs)

    @property
    def url(self) -> str:
        """Base URL of the running server, e.g. ``http://127.0.0.1:54321``."""
        if self._handle is None:
            raise RuntimeError(f"{type(self).__name__} is not running: call start() first")
        return self._handle.url

    def __enter__(self) -> SandboxServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- fault injection and the request log ------------------------------------------------

    def script(self, path_prefix: str, statuses: Iterable[int | str]) -> None:
        """Answer the next requests on paths starting with ``path_prefix`` with ``statuses``.

        One status per request, in order; 200 lets that request through to the real handler.
        Once the list is used up the path behaves normally again. 429 comes with
        ``Retry-After: 0`` so clients retry at once. A server may also accept named faults
        (HubSpot: ``"daily"``), see its :meth:`scripted_response`.
        """
        with self._lock:
            self._scripts.append((path_prefix, deque(statuses)))

    def delay(self, path_prefix: str, seconds: float, count: int = 1) -> None:
        """Answer the next ``count`` requests on ``path_prefix`` only after ``seconds``.

        The requests are handled (and logged) normally first, so a client that times out has
        still had its write applied: the case an idempotent retry must survive. A new call
        replaces the delay pending on the same ``path_prefix``; ``count=0`` cancels it.
        """
        with self._lock:
            self._delays = [entry for entry in self._delays if entry[0] != path_prefix]
            if count > 0:
                self._delays.append((path_prefix, seconds, [count]))

    def calls(self, path_prefix: str = "") -> list[RequestRecord]:
        """The logged requests whose path starts with ``path_prefix``."""
        with self._lock:
            return [record for record in self.requests if record.path.startswith(path_prefix)]

    def _scripted_status(self, path: str) -> int | str | None:
        with self._lock:
            for prefix, statuses in self._scripts:
                if path.startswith(prefix) and statuses:
                    return statuses.popleft()
        return None

    def _scripted_delay(self, path: str) -> float:
        with self._lock:
            for prefix, seconds, left in self._delays:
                if path.startswith(prefix) and left[0] > 0:
                    left[0] -= 1
                    return seconds
        return 0.0

    def scripted_response(self, status: int | str, request: Request) -> Response:
        """The answer to a scripted fault; servers override it to match their vendor's bodies."""
        if not isinstance(status, int):
            raise ValueError(f"{type(self).__name__} has no named fault {status!r}")
        return Response.json(
            status,
            {"error": f"sandbox: scripted HTTP {status}", "request": request.path},
            self.scripted_headers.get(status),
        )

    def dispatch(self, request: Request) -> Response:
        """Answer a request: a scripted fault if one is due, else :meth:`handle`; log it.

        A scripted delay (:meth:`delay`) and the :attr:`latency` are slept after the request was
        handled and logged.
        """
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            return self._answer(request)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _answer(self, request: Request) -> Response:
        scripted = self._scripted_status(request.path)
        if scripted is not None and scripted != PASS:
            response = self.scripted_response(scripted, request)
        else:
            try:
                response = self.handle(request)
            except Exception:  # a sandbox bug must look like a vendor 500, not a hang
                log.exception("sandbox handler failed for %s %s", request.method, request.path)
                response = Response.json(500, {"error": "sandbox: internal error"})
        with self._lock:
            self.requests.append(
                RequestRecord(
                    request.method, request.path, response.status, request.params(), request.body
                )
            )
        seconds = self._scripted_delay(request.path)
        seconds += self.latency.sample() if self.latency else 0.0
        if seconds > 0:
            time.sleep(seconds)
        return response

    def handle(self, request: Request) -> Response:
        """Answer one request; subclasses implement the vendor contract here."""
        raise NotImplementedError

    def handler_factory(self) -> type[BaseHTTPRequestHandler]:
        """A request-handler class bound to this server's :meth:`dispatch`."""
        return make_handler(self.dispatch)


def make_handler(dispatch: Callable[[Request], Response]) -> type[BaseHTTPRequestHandler]:
    """A ``BaseHTTPRequestHandler`` class that parses requests and writes ``dispatch``'s answer."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive and chunked bodies, like the real APIs
        server_version = "RecurSandbox/0.1"
        timeout = 30  # drop idle keep-alive connections
        # Headers and body go out in separate writes; without TCP_NODELAY, Nagle plus the
        # client's delayed ACK add ~40 ms to every keep-alive request.
        disable_nagle_algorithm = True

        def do_GET(self) -> None:  # noqa: N802 - http.server naming
            self._serve()

        def do_POST(self) -> None:  # noqa: N802
            self._serve()

        def do_PUT(self) -> None:  # noqa: N802
            self._serve()

        def do_DELETE(self) -> None:  # noqa: N802
            self._serve()

        def do_PATCH(self) -> None:  # noqa: N802
            self._serve()

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            request = Request(
                method=self.command,
                path=parts.path,
                query=dict(parse_qsl(parts.query, keep_blank_values=True)),
                headers=self.headers,
                body=body,
                query_string=parts.query,
            )
            self._write(dispatch(request))

        def _write(self, response: Response) -> None:
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            try:
                if isinstance(response.body, bytes | bytearray):
                    self.send_header("Content-Length", str(len(response.body)))
                    self.end_headers()
                    self.wfile.write(response.body)
                    return
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for chunk in response.body:
                    if chunk:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.write(b"0\r\n\r\n")
            except (AbortConnection, BrokenPipeError, ConnectionResetError):
                # No terminating chunk: the client sees the body end prematurely.
                self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            log.debug("%s - %s", self.address_string(), format % args)

    return Handler
