"""A TCP proxy on loopback that a test switches between passing traffic on and the ways an
API fails as seen from its client: refusing connections, accepting and never answering,
answering many seconds late, and answering 500.

Switching mode closes every connection in hand, so that the client's kept-alive
connections meet the new mode at once rather than after their next reconnect.
"""

from __future__ import annotations

import contextlib
import socket
import threading

from kazsat.stack import free_port

MODES = ("pass", "refuse", "hang", "slow", "500")
ERROR = (b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n"
         b"Content-Length: 49\r\nConnection: close\r\n\r\n"
         b'{"code": "internal", "message": "injected fault"}')


class FaultyProxy:
    """Listens on `port` and forwards to 127.0.0.1:`upstream_port` while in mode "pass".
    In "slow" every answer is held `slow_s` seconds before it is passed on."""

    def __init__(self, upstream_port: int, slow_s: float = 8.0) -> None:
        self.port = free_port()
        self.upstream = ("127.0.0.1", upstream_port)
        self.slow_s = slow_s
        self.mode = "pass"
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._halt = threading.Event()
        self._listener: socket.socket | None = self._listen()
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)
        self._acceptor.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def set_mode(self, mode: str) -> None:
        """From now on, behave as `mode`; connections in hand are closed. "refuse" closes
        the listening socket (a connect is refused by the kernel); any other reopens it."""
        assert mode in MODES, mode
        with self._lock:
            self.mode = mode
            for s in list(self._open):
                _close(s)
            self._open.clear()
            if mode == "refuse" and self._listener is not None:
                _close(self._listener)
                self._listener = None
            elif mode != "refuse" and self._listener is None:
                self._listener = self._listen()

    def close(self) -> None:
        self._halt.set()
        self.set_mode("refuse")
        self._acceptor.join(5)

    def _listen(self) -> socket.socket:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(64)
        s.settimeout(0.1)  # so that the loop sees a closed listener or the halt
        return s

    def _accept_loop(self) -> None:
        while not self._halt.is_set():
            listener = self._listener
            if listener is None:
                self._halt.wait(0.05)
                continue
            try:
                conn, _ = listener.accept()
            except OSError:  # timed out, or closed by set_mode
                continue
            conn.settimeout(None)
            with self._lock:
                mode = self.mode
                self._open.add(conn)
            threading.Thread(target=self._serve, args=(conn, mode), daemon=True).start()

    def _serve(self, conn: socket.socket, mode: str) -> None:
        try:
            if mode == "hang":
                while conn.recv(65536):  # read and never answer, until closed
                    pass
            elif mode == "500":
                seen = b""
                while b"\r\n\r\n" not in seen:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    seen += chunk
                conn.sendall(ERROR)
            else:
                self._forward(conn, delay=self.slow_s if mode == "slow" else 0.0)
        except OSError:
            pass
        finally:
            self._forget(conn)

    def _forward(self, conn: socket.socket, delay: float) -> None:
        up = socket.create_connection(self.upstream, timeout=10)
        up.settimeout(None)
        with self._lock:
            self._open.add(up)
        gone = threading.Event()
        back = threading.Thread(target=self._pump, args=(up, conn, delay, gone), daemon=True)
        back.start()
        try:
            self._pump(conn, up, 0.0, gone)
        finally:
            back.join()
            self._forget(up)

    def _pump(self, src: socket.socket, dst: socket.socket, delay: float,
              gone: threading.Event) -> None:
        try:
            while True:
                chunk = src.recv(65536)
                if not chunk:
                    break
                if delay and gone.wait(delay):  # the fault itself: an answer held back
                    break
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            gone.set()
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def _forget(self, s: socket.socket) -> None:
        with self._lock:
            self._open.discard(s)
        _close(s)


def _close(s: socket.socket) -> None:
    with contextlib.suppress(OSError):
        s.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        s.close()
