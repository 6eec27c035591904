"""The simulator's peers in tests: a receiver standing in for the service, and a plain HTTP
client standing in for twilio-python."""

import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "sim-test-token"
FROM = "+15005550006"
ALL_EVENTS = ["initiated", "ringing", "answered", "completed"]
TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response><Say>Hello</Say></Response>'
GATHER = (
    b'<Response><Gather numDigits="1" action="BASE/gather" method="POST"><Say>Hello</Say>'
    b"<Say>To stop these calls, press 9.</Say></Gather></Response>"
)
HANG_UP = b"<Response><Say>Goodbye</Say><Hangup/></Response>"


class Receiver:
    """The service's side: records the simulator's requests and answers like a service."""

    def __init__(self):
        self.requests = []
        self.answer_mode = "twiml"
        self.status_code = 204
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                params = dict(
                    urllib.parse.parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True)
                )
                with receiver._lock:
                    receiver.requests.append(
                        {
                            "path": self.path,
                            "url": f"{receiver.base_url}{self.path}",
                            "params": params,
                            "signature": self.headers.get("X-Twilio-Signature"),
                        }
                    )
                code, body = receiver.reply(self.path)
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def reply(self, path):
        if path.startswith("/gather"):
            return 200, HANG_UP
        if path.startswith("/answer"):
            return {
                "twiml": (200, TWIML),
                "gather": (200, GATHER.replace(b"BASE", self.base_url.encode())),
                "garbage": (200, b"this is not xml"),
                "wrong-root": (200, b"<Html><Body/></Html>"),
                "error": (500, b"oops"),
            }[self.answer_mode]
        return self.status_code, b""

    def callbacks(self, sid):
        with self._lock:
            return [
                r
                for r in self.requests
                if r["path"].startswith("/status") and r["params"]["CallSid"] == sid
            ]

    def answers(self, sid):
        with self._lock:
            return [
                r
                for r in self.requests
                if r["path"].startswith("/answer") and r["params"]["CallSid"] == sid
            ]

    def gathers(self, sid):
        with self._lock:
            return [
                r
                for r in self.requests
                if r["path"].startswith("/gather") and r["params"]["CallSid"] == sid
            ]

    def wait_for_callbacks(self, sid, count, timeout=5.0):
        deadline = time.monotonic() + timeout
        while len(self.callbacks(sid)) < count:
            assert time.monotonic() < deadline, (
                f"expected {count} callbacks for {sid}, got {self.callbacks(sid)}"
            )
            time.sleep(0.02)
        return self.callbacks(sid)

    def clear(self):
        with self._lock:
            self.requests.clear()
        self.answer_mode, self.status_code = "twiml", 204

    def stop(self):
        self._server.shutdown()
        self._server.server_close()


class Api:
    """Plain HTTP calls to the simulator's REST API, as a Twilio client would send them."""

    def __init__(self, base_url, receiver_url):
        self.calls_url = f"{base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"
        self.base_url = base_url
        self.receiver_url = receiver_url

    def create(self, to, auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=5, **fields):
        data = {
            "To": to,
            "From": FROM,
            "Url": f"{self.receiver_url}/answer",
            "StatusCallback": f"{self.receiver_url}/status",
            "StatusCallbackEvent": ALL_EVENTS,
            **fields,
        }
        data = {key: value for key, value in data.items() if value is not None}
        return requests.post(self.calls_url, data=data, auth=auth, timeout=timeout)

    def fetch(self, sid):
        return requests.get(self._call_url(sid), auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=5)

    def update(self, sid, **fields):
        return requests.post(
            self._call_url(sid), data=fields, auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=5
        )

    def list(self, **params):
        return requests.get(
            self.calls_url, params=params, auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=5
        )

    def _call_url(self, sid):
        return f"{self.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{sid}.json"
