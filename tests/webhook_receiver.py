"""A business's webhook endpoint for tests: a real HTTP server on a free loopback port, in a
thread, answering the statuses it is told in turn (then 200) and recording what it got."""

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
