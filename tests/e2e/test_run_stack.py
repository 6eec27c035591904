"""`make run`'s stack script: web, worker and the local Twilio come up, the demo's calls all end,
and Ctrl-C stops every process within a few seconds."""

import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.e2e.live_stack import ROOT, free_port

pytestmark = pytest.mark.slow


def test_the_stack_runs_the_demo_and_stops_on_ctrl_c(tmp_path):
    web, sim = free_port(), free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_"))},
        "DEBUG": "true",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "REDIS_URL": "",
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{web}",
        "TWILIO_API_BASE_URL": f"http://127.0.0.1:{sim}",
        "TWILIO_CALLS_PER_SECOND": "3",
    }
    python = sys.executable
    subprocess.run(
        [python, "manage.py", "migrate"], cwd=ROOT, env=env, check=True, capture_output=True
    )
    log = tmp_path / "stack.log"
    with open(log, "w") as out:
        stack = subprocess.Popen(
            [python, "scripts/stack.py", "--port", str(web), "--sim-port", str(sim),
             "--then", f"{python} manage.py demo --calls 4 --timeout 90"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 150
        while "[stack] demo finished" not in log.read_text():
            assert stack.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        output = log.read_text()
        assert "[stack] demo finished (0)" in output, output
        assert "All 4 calls reached a final state." in output
        assert "Admin user: admin   password: " in output
        admin = urllib.request.urlopen(f"http://127.0.0.1:{web}/admin/login/", timeout=5)
        assert b"Django administration" in admin.read()
        css = urllib.request.urlopen(f"http://127.0.0.1:{web}/static/admin/css/base.css", timeout=5)
        assert css.status == 200
        children = subprocess.run(
            ["pgrep", "-P", str(stack.pid)], capture_output=True, text=True
        ).stdout.split()
        assert len(children) == 3  # web, worker, twilio_sim

        started = time.monotonic()
        stack.send_signal(signal.SIGINT)  # what Ctrl-C sends to the foreground process
        assert stack.wait(timeout=15) == 0
        assert time.monotonic() - started < 10
        for pid in children:
            # Each child led its own process group: nothing of it (gunicorn or qcluster
            # worker processes included) may be left.
            with pytest.raises(ProcessLookupError):
                os.killpg(int(pid), 0)
        assert "[stack] stopped" in log.read_text()
        assert "did not stop" not in log.read_text()
    finally:
        if stack.poll() is None:
            stack.kill()
