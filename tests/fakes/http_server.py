"""The threaded HTTP server plumbing the stand-ins in tests/fakes share (Supabase Storage, Zoom): a server on
127.0.0.1 (a free port, or the same one again after a stop, to simulate an outage) serving in a thread of its
own, one named thread per connection, and a stop that cuts every open connection and joins the threads.

Threads are named ``{name}-serve-{port}`` and ``{name}-conn-{port}-{n}`` (``name`` e.g. ``fake-supabase``),
so tests can check that none is left behind. stdlib only.
"""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeHTTPServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer on 127.0.0.1:``port`` (0 = a free one) that remembers its connections and their
    threads, so that ``stop()`` can cut them all; a client going away mid-request is not an error."""

    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, port: int, handler: type[BaseHTTPRequestHandler], name: str) -> None:
        self.thread_name = name
        self._conn_lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._conn_threads: set[threading.Thread] = set()
        self._in_request: set[BaseHTTPRequestHandler] = set()
        self._counter = 0
        self._serve_thread: threading.Thread | None = None
        super().__init__(("127.0.0.1", port), handler)

    @property
    def port(self) -> int:
        return self.server_address[1]

    def start(self) -> FakeHTTPServer:
        """Serve in a daemon thread of its own."""
        self._serve_thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                                              name=f"{self.thread_name}-serve-{self.port}", daemon=True)
        self._serve_thread.start()
        return self

    def stop(self) -> None:
        """Close the port, cut every open connection, and join the connection and serving threads."""
        self.close_everything()
        if self._serve_thread is not None:
            self._serve_thread.join(timeout=5)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._conn_lock:
            self._counter += 1
            t = threading.Thread(target=self._work, args=(request, client_address), daemon=True,
                                 name=f"{self.thread_name}-conn-{self.port}-{self._counter}")
            self._conns.add(request)
            self._conn_threads.add(t)
        t.start()

    def _work(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:  # noqa: BLE001 - a client going away mid-request is normal here
            pass
        finally:
            with self._conn_lock:
                self._conns.discard(request)
                self._conn_threads.discard(threading.current_thread())
            self.shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass

    def requests_in_flight(self) -> int:
        """How many connections are inside a request now (its head or body arriving, or its answer going
        out); a keep-alive connection waiting for its next request does not count."""
        with self._conn_lock:
            return len(self._in_request)

    def _request_began(self, handler: BaseHTTPRequestHandler) -> None:
        with self._conn_lock:
            self._in_request.add(handler)

    def _request_ended(self, handler: BaseHTTPRequestHandler) -> None:
        with self._conn_lock:
            self._in_request.discard(handler)

    def close_everything(self) -> None:
        self.shutdown()
        self.server_close()
        with self._conn_lock:
            conns = list(self._conns)
            threads = list(self._conn_threads)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in threads:  # generous: on a loaded machine a cut connection can take a while to notice
            t.join(timeout=15)


class FakeHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive (30 s idle timeout), TCP_NODELAY, and no request log on stderr."""

    protocol_version = "HTTP/1.1"
    timeout = 30

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
        pass

    def parse_request(self) -> bool:
        # The request line has arrived: from here until the answer is sent, this connection is busy.
        if isinstance(self.server, FakeHTTPServer):
            self.server._request_began(self)
        return super().parse_request()

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        finally:
            if isinstance(self.server, FakeHTTPServer):
                self.server._request_ended(self)
