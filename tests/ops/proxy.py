"""A TCP proxy that can be cut and restored on the same port: a database or Redis "going down"
and "coming back" as the application sees it, without stopping the real servers.

It can also cut one PostgreSQL connection at its COMMIT (`cut_at_commit`): either before the
COMMIT reaches the server (the transaction rolls back) or after the server has answered it
(the transaction is committed, but the application never learns it: a lost acknowledgement)."""

from __future__ import annotations

import contextlib
import socket
import threading

from tests.ports import free_port


def closed_port() -> int:
    """A port nothing listens on (connections are refused at once)."""
    return free_port()


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._trap: tuple[bytes, bool] | None = None
        self.trap_sprung = threading.Event()

    def cut_at_commit(self, *, after: bytes, deliver: bool) -> None:
        """Arm a one-shot trap: on the first connection that sends `after` (a marker such as a
        table name in an UPDATE), cut the connection at its next COMMIT. `deliver=True` lets the
        COMMIT through and drops the server's reply; `deliver=False` never sends it."""
        self.trap_sprung.clear()
        self._trap = (after, deliver)

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        """Refuse new connections and cut every open one (like a server that went away)."""
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:  # stopped meanwhile
                    client.close()
                    upstream.close()
                    return
                self._sockets |= {client, upstream}
            state = {"marked": False, "swallow": False}
            threading.Thread(
                target=self._pipe, args=(client, upstream, state, True), daemon=True
            ).start()
            threading.Thread(
                target=self._pipe, args=(upstream, client, state, False), daemon=True
            ).start()

    def _pipe(
        self, source: socket.socket, sink: socket.socket, state: dict, to_server: bool
    ) -> None:
        try:
            while data := source.recv(65536):
                if to_server and self._trap is not None:
                    after, deliver = self._trap
                    state["marked"] = state["marked"] or after in data
                    if state["marked"] and b"COMMIT" in data:
                        self._trap = None
                        if not deliver:
                            self.trap_sprung.set()
                            return  # never sent: the server sees the client vanish, rolls back
                        state["swallow"] = True
                elif not to_server and state["swallow"]:
                    self.trap_sprung.set()
                    return  # the server has committed and answered; the answer is lost
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
