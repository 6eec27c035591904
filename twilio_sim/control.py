"""A tiny stdlib client for the simulator's `/_sim/` control API (tests, demo, benchmarks)."""

import json
import time
import urllib.request


class SimControl:
    def __init__(self, base_url, *, timeout=30.0):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _request(self, method, path, payload=None):
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(
            f"{self.base_url}/_sim/{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            return json.load(response)

    def reset(self):
        """Forget every call and stat; settings go back to the run's defaults."""
        return self._request("POST", "reset", {})

    def configure(self, **settings):
        """Change settings at run time.

        E.g. configure(create_429=2, numbers={"+15550001234": {"outcome": "busy"}}).
        """
        return self._request("POST", "config", settings)

    def config(self):
        return self._request("GET", "config")

    def calls(self):
        """Every call the simulator has seen, oldest first, each with its timeline."""
        return self._request("GET", "calls")["calls"]

    def call(self, sid):
        return self._request("GET", f"calls/{sid}")

    def accounts(self):
        """Every account, the main one first: SID, token, name, status."""
        return self._request("GET", "accounts")["accounts"]

    def stats(self):
        return self._request("GET", "stats")

    def now(self):
        return self._request("GET", "clock")["now"]

    def advance(self, seconds):
        """Move a manual clock, wait for what fell due (callbacks too); return the new time."""
        return self._request("POST", "clock", {"advance": seconds})["now"]

    def wait_until(self, predicate, timeout=10.0, interval=0.05):
        """Poll `predicate(calls)` until it is truthy and return its value; else TimeoutError."""
        deadline = time.monotonic() + timeout
        while True:
            result = predicate(self.calls())
            if result:
                return result
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"the simulator did not reach the expected state within {timeout} s"
                )
            time.sleep(interval)

    def wait_for_end(self, sid, timeout=10.0):
        """The record of call `sid` once it has ended."""
        return self.wait_until(
            lambda calls: next(
                (c for c in calls if c["sid"] == sid and c["ended_at"] is not None), None
            ),
            timeout,
        )
