"""The environment's front door: a TCP proxy on the environment's port, like the nginx EB runs before the container.

Before any version is deployed it serves a sample page, as EB's sample application would.
A deploy starts the new container on a private port and moves the proxy's target only once the container is
healthy, so a failed deploy leaves the previous container serving.

A fleet's instances are several targets, taken in turn (the load balancer); a traffic-splitting deployment sends a
share of the connections to other targets (the new instances) while it evaluates them.
"""

from __future__ import annotations

import selectors
import socket
import threading
from typing import cast

SAMPLE_PAGE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 71\r\nConnection: close\r\n\r\n"
    b"<html><body><h1>Elastic Beanstalk sample application</h1></body></html>"
)
BAD_GATEWAY = (
    b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nContent-Length: 27\r\nConnection: close\r\n\r\n"
    b"No application is running.\n"
)


class Proxy:
    def __init__(self, port: int = 0, host: str = "127.0.0.1") -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((host, port))
        self._listener.listen(64)
        self.host = host
        self.port: int = self._listener.getsockname()[1]
        self.targets: list[tuple[str, int]] = []
        self.canaries: list[tuple[str, int]] = []  # a traffic split's new instances
        self.canary_percent = 0
        self._turn = 0
        self._closed = False
        threading.Thread(target=self._accept, name=f"proxy-{self.port}", daemon=True).start()

    @property
    def target(self) -> tuple[str, int] | None:
        return self.targets[0] if self.targets else None

    @target.setter
    def target(self, value: tuple[str, int] | None) -> None:
        self.targets = [value] if value else []

    def route(
        self, targets: list[tuple[str, int]], canaries: list[tuple[str, int]] | None = None, canary_percent: int = 0
    ) -> None:
        self.targets, self.canaries, self.canary_percent = list(targets), list(canaries or []), canary_percent

    def _next_target(self) -> tuple[str, int] | None:
        """Round robin; with canaries, canary_percent of the connections (spread evenly) go to them."""
        turn, self._turn = self._turn, self._turn + 1
        pool = self.targets
        if self.canaries and (turn + 1) * self.canary_percent // 100 > turn * self.canary_percent // 100:
            pool = self.canaries
        return pool[turn % len(pool)] if pool else None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def close(self) -> None:
        self._closed = True
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client, self._next_target()), daemon=True).start()

    @staticmethod
    def _serve(client: socket.socket, target: tuple[str, int] | None) -> None:
        with client:
            if target is None:
                _answer(client, SAMPLE_PAGE)
                return
            try:
                upstream = socket.create_connection(target, timeout=5)
            except OSError:
                _answer(client, BAD_GATEWAY)
                return
            with upstream:
                upstream.settimeout(None)
                _pipe(client, upstream)


def _answer(client: socket.socket, response: bytes) -> None:
    client.settimeout(2)
    try:
        client.recv(65536)
        client.sendall(response)
        client.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def _pipe(a: socket.socket, b: socket.socket) -> None:
    peers = {a: b, b: a}
    open_reads = {a, b}
    with selectors.DefaultSelector() as selector:
        for peer in peers:
            selector.register(peer, selectors.EVENT_READ)
        while open_reads:
            events = selector.select(timeout=300)
            if not events:
                return
            for key, _ in events:
                sock = cast(socket.socket, key.fileobj)
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                if data:
                    try:
                        peers[sock].sendall(data)
                    except OSError:
                        return
                    continue
                selector.unregister(sock)
                open_reads.discard(sock)
                try:
                    peers[sock].shutdown(socket.SHUT_WR)
                except OSError:
                    pass
