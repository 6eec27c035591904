"""`make run`: web, worker and the local Twilio come up, the demo's calls all end and its table
says why each failed one did, and Ctrl-C (also with the output piped, or the terminal closed)
stops every process it started within 5 s."""

import os
import signal
import subprocess
import sys
import time
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


def start_make_run(tmp_path, stdout):
    """`make run` in a group of its own, as a terminal runs a job: `sh -c "make run | tee"`."""
    web, sim = free_port(), free_port()
    return subprocess.Popen(
        ["sh", "-c", f"make run PORT={web} SIM_PORT={sim} | tee {tmp_path / 'run.log'}"],
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
