"""A township link for tests: a TCP relay in front of the API that is slow (a bandwidth cap) and can be cut.

It relays real bytes between a real client and a real server; it only paces them, so that a test can
act (kill the client, stop the server) while an upload is under way instead of racing it.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

__all__ = ["SlowLink"]


class SlowLink:
    """Relays ``127.0.0.1:port`` to ``127.0.0.1:target_port``, client-to-server at ``rate`` bytes/s."""

    def __init__(self, target_port: int, rate: float | None = None) -> None:
        self.target_port, self.rate = target_port, rate
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._closing = False
        #: bytes relayed back from the server so far (the test's sign that the server has answered)
        self.answered = 0
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:  # the server is down: the link drops the connection, as a router would
                client.close()
                continue
            upstream.settimeout(None)
            state: list[bool] = [False]  # one connection's state, for subclasses that watch it (_seen)
            threading.Thread(target=self._pipe, args=(client, upstream, self.rate, False, state),
                             daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, None, True, state), daemon=True).start()

    def _seen(self, state: list[bool], back: bool) -> None:
        """Called before each chunk is relayed (``back``: from the server); nothing here."""

    def _pipe(self, src: socket.socket, dst: socket.socket, rate: float | None, back: bool,
              state: list[bool]) -> None:
        try:
            while chunk := src.recv(16384):
                self._seen(state, back)
                dst.sendall(chunk)
                if back:
                    self.answered += len(chunk)
                if rate:
                    time.sleep(len(chunk) / rate)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def close(self) -> None:
        self._closing = True
        self.server.close()
        self._thread.join(timeout=5)
