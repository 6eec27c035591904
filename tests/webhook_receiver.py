"""A business's webhook endpoint for tests: a real HTTP server on a free loopback port, in a
thread, answering the statuses it is told in turn (then 200) and recording what it got."""

import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    headers: dict
    body: bytes
    at: float  # time.monotonic()


class Receiver:
    def __init__(self, answers=(), delay_seconds=0.0, redirect_to=""):
        self.answers = list(answers)
        self.delay_seconds = delay_seconds
        self.redirect_to = redirect_to
        self.received: list[Received] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.received.append(Received(dict(self.headers), body, time.monotonic()))
                if receiver.delay_seconds:
                    time.sleep(receiver.delay_seconds)
                status = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(status)
                if receiver.redirect_to:
                    self.send_header("Location", receiver.redirect_to)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/calls?from=test"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class TricklingReceiver:
    """A receiver that holds every delivery: it reads the request, then sends its answer one
    byte every `interval` seconds, from the status line on (`trickle="answer"`) or once the
    status and headers are out (`trickle="body"`, a body that never ends). On a free loopback
    port, one thread per connection; `connections` counts the requests it took."""

    def __init__(self, *, interval=1.0, trickle="answer"):
        self.interval = interval
        self.trickle = trickle
        self.connections = 0
        self.stopping = threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hooks/calls"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # closed
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\n"
        with conn:
            try:
                request = b""
                while b"\r\n\r\n" not in request:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    request += chunk
                if self.trickle == "body":
                    conn.sendall(head)
                    head = b""
                for byte in head + b"x" * 100000:
                    if self.stopping.wait(self.interval):
                        return
                    conn.sendall(bytes([byte]))
            except OSError:
                return  # the sender gave up: what the deadline is for

    def close(self):
        self.stopping.set()
        self.sock.close()
