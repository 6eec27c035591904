"""`make run`: web, worker and the local Twilio come up, the demo's calls all end and its table
says why each failed one did, and Ctrl-C (also with the output piped, or the terminal closed)
stops every process it started within 5 s. Run twice, it keeps what an operator listed as
do-not-call, and its terminal stays quiet: progress on one line, one line per worker start and
stop, no favicon 404s, a refused page logged once without a traceback, the admin's URL and
password again at the end."""

import http.cookiejar
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

import pytest

from tests.e2e.live_stack import ROOT, descendants, free_port, live_members

pytestmark = pytest.mark.slow

STOP_SECONDS = 5


def stack_env(tmp_path, **settings):
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_"))},
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "REDIS_URL": "",
        "DEV_ADMIN_PASSWORD_FILE": str(tmp_path / "admin-password"),
        **settings,
    }


def test_the_stack_runs_the_demo_and_stops_on_ctrl_c(tmp_path):
    web, sim = free_port(), free_port()
    env = stack_env(
        tmp_path,
        DEBUG="true",
        PUBLIC_BASE_URL=f"http://127.0.0.1:{web}",
        TWILIO_API_BASE_URL=f"http://127.0.0.1:{sim}",
        TWILIO_CALLS_PER_SECOND="3",
    )
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
        # Each call that did not complete says why (numbers ending 0002 are busy, 0003 unanswered),
        # read from the SIP code of its last callback.
        assert "+14155550002   busy              0 s  The line was busy (SIP 486)." in output
        unanswered = "Nobody answered before the ring timeout (SIP 487)."
        assert f"+14155550003   no-answer         0 s  {unanswered}" in output
        password = (tmp_path / "admin-password").read_text().strip()
        assert f"Admin user: admin   password: {password}" in output
        admin = urllib.request.urlopen(f"http://127.0.0.1:{web}/admin/login/", timeout=5)
        assert b"Log in | Outbound calls" in admin.read()
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


def groups_of(pid: int) -> set[int]:
    groups = {os.getpgid(pid)}
    for child in descendants(pid):
        try:
            groups.add(os.getpgid(child))
        except ProcessLookupError:
            pass
    return groups


def start_make_run(tmp_path, stdout, *, web=None, tee=True):
    """`make run` in a group of its own, as a terminal runs a job: `sh -c "make run | tee"`
    (or with its output sent to the file itself, which a Ctrl-C cannot cut short)."""
    web, sim = web or free_port(), free_port()
    into = f"| tee {tmp_path / 'run.log'}" if tee else f"> {tmp_path / 'run.log'} 2>&1"
    return subprocess.Popen(
        ["sh", "-c", f"make run PORT={web} SIM_PORT={sim} {into}"],
        cwd=ROOT, env=stack_env(tmp_path), stdout=stdout, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip


def wait_for_the_demo(job, read_output):
    deadline = time.monotonic() + 120
    while "[demo] waiting" not in (output := read_output()):
        assert job.poll() is None, output
        assert time.monotonic() < deadline, output
        time.sleep(0.2)


def assert_all_gone_after(job, signum, output):
    groups = groups_of(job.pid)
    assert len(groups) >= 5  # the job's, then web, worker, twilio_sim and the demo's own
    os.killpg(job.pid, signum)
    deadline = time.monotonic() + STOP_SECONDS
    while (left := [g for g in groups if live_members(g)]) and time.monotonic() < deadline:
        job.poll()
        time.sleep(0.05)
    for group in left:
        os.killpg(group, signal.SIGKILL)
    assert left == [], output()
    job.wait()


def test_ctrl_c_with_the_output_piped_stops_every_process_within_5_s(tmp_path):
    job = start_make_run(tmp_path, subprocess.DEVNULL)
    log = tmp_path / "run.log"
    output = lambda: log.read_text() if log.exists() else ""  # noqa: E731
    try:
        wait_for_the_demo(job, output)
        # Ctrl-C reaches every process of the terminal's foreground job at once, tee included.
        assert_all_gone_after(job, signal.SIGINT, output)
    finally:
        if live_members(job.pid):
            os.killpg(job.pid, signal.SIGKILL)


def test_closing_the_terminal_stops_every_process_within_5_s(tmp_path):
    job = start_make_run(tmp_path, subprocess.PIPE)
    os.set_blocking(job.stdout.fileno(), False)
    seen = []

    def output():
        seen.append((job.stdout.read() or b"").decode(errors="replace"))
        return "".join(seen)

    try:
        wait_for_the_demo(job, output)
        # The terminal is gone: nothing reads the output any more, and the job gets SIGHUP.
        job.stdout.close()
        assert_all_gone_after(job, signal.SIGHUP, lambda: "".join(seen))
    finally:
        if live_members(job.pid):
            os.killpg(job.pid, signal.SIGKILL)


class Terminal:
    """`make run` with a pseudo-terminal for its output, as in a terminal window: what it wrote,
    read as it comes (a full pty would block the writer)."""

    def __init__(self, tmp_path, web):
        master, slave = os.openpty()
        sim = free_port()
        self.job = subprocess.Popen(
            ["make", "run", f"PORT={web}", f"SIM_PORT={sim}"],
            cwd=ROOT, env=stack_env(tmp_path), stdin=slave, stdout=slave, stderr=slave,
            start_new_session=True,
        )  # fmt: skip
        os.close(slave)
        self.master, self.chunks = master, []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # EIO: every writer has closed the terminal
                return
            if not chunk:
                return
            self.chunks.append(chunk)

    def output(self) -> str:
        return b"".join(self.chunks).decode(errors="replace")


def wait_for_text(text, job, read_output, seconds=180):
    deadline = time.monotonic() + seconds
    while text not in (output := read_output()):
        assert job.poll() is None, output
        assert time.monotonic() < deadline, output
        time.sleep(0.3)
    return output


class AdminSession:
    """A browser's worth of the admin over HTTP: a session cookie and the CSRF token."""

    def __init__(self, base, password):
        self.base = base
        self.cookies = http.cookiejar.CookieJar()
        handler = urllib.request.HTTPCookieProcessor(self.cookies)
        self.opener = urllib.request.build_opener(handler, NoRedirect)
        self.post("/admin/login/", {"username": "admin", "password": password})

    def get(self, path):
        try:
            response = self.opener.open(self.base + path, timeout=10)
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()
        return response.status, response.read().decode()

    def post(self, path, fields):
        status, page = self.get(path)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        body = urllib.parse.urlencode({**fields, "csrfmiddlewaretoken": token}).encode()
        request = urllib.request.Request(
            self.base + path, data=body, headers={"Referer": self.base + path}
        )
        try:
            response = self.opener.open(request, timeout=10)
        except urllib.error.HTTPError as error:
            return error.code
        return response.status


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def listed_numbers(tmp_path) -> list[tuple[str, str]]:
    with sqlite3.connect(tmp_path / "db.sqlite3") as db:
        return db.execute(
            "SELECT phone_number, reason FROM calls_donotcall ORDER BY phone_number"
        ).fetchall()


def stop(job, output):
    os.killpg(job.pid, signal.SIGINT)  # Ctrl-C
    deadline = time.monotonic() + STOP_SECONDS
    while job.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert job.poll() is not None, output()


def test_make_run_twice_keeps_an_operator_s_do_not_call_number_and_a_quiet_terminal(tmp_path):
    web = free_port()
    log = tmp_path / "run.log"
    first = start_make_run(tmp_path, subprocess.DEVNULL, web=web, tee=False)
    read_first = lambda: log.read_text() if log.exists() else ""  # noqa: E731
    try:
        wait_for_text("[stack] demo finished", first, read_first)
        password = (tmp_path / "admin-password").read_text().strip()
        admin = AdminSession(f"http://127.0.0.1:{web}", password)
        # An operator lists a number for the demo business by hand.
        with sqlite3.connect(tmp_path / "db.sqlite3") as db:
            (business_id,) = db.execute("SELECT id FROM calls_business").fetchone()
        added = admin.post(
            "/admin/compliance/donotcall/add/",
            {"business": business_id, "phone_number": "(415) 555-9999", "reason": "By phone"},
        )
        assert added == 302
        # What a browser does while an operator works: its icon, and a page refused to it.
        assert admin.get("/favicon.ico")[0] == 301
        assert admin.get("/admin/calls/calllog/add/")[0] == 403
        time.sleep(1)  # the web process's log reaches the file
        stop(first, read_first)
    finally:
        if live_members(first.pid):
            os.killpg(first.pid, signal.SIGKILL)
    output = read_first()
    assert output.count("Worker started: cluster calls") == 1, output
    assert output.count("Worker stopped on SIGTERM") == 1, output
    assert "favicon" not in output
    assert output.count("Forbidden (Permission denied): /admin/calls/calllog/add/") == 1
    assert "Traceback" not in output
    # After the demo's table, the admin's address and password again.
    after_demo = output.split("[stack] demo finished (0)")[1]
    assert f"http://127.0.0.1:{web}/admin/  Admin user: admin   password: {password}" in after_demo
    # Pressing 9 listed the demo's 0007 callee; the operator listed one by hand.
    (demo_row, operator_row) = listed_numbers(tmp_path)
    assert demo_row[0] == "+14155550007" and demo_row[1].startswith("opted out by keypress")
    assert operator_row == ("+14155559999", "By phone")

    terminal = Terminal(tmp_path, web)
    try:
        wait_for_text("[stack] demo finished", terminal.job, terminal.output)
        stop(terminal.job, terminal.output)
    finally:
        if live_members(terminal.job.pid):
            os.killpg(terminal.job.pid, signal.SIGKILL)
    output = terminal.output()
    # In a terminal the progress is rewritten in place: never a line of its own.
    assert re.search(r"\r\[demo\] waiting: \d+ .*\x1b\[K", output), output
    assert not re.search(r"\n\[demo\] waiting", output), output
    # The operator's number is still listed; the demo's own opt-out was cleared and made again.
    numbers = [number for number, _ in listed_numbers(tmp_path)]
    assert numbers == ["+14155550007", "+14155559999"]
