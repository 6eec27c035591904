"""Starts web, worker and the local Twilio for `make run`; Ctrl-C stops them all within 5 s.

Each child leads a session of its own, so only this script hears the terminal (Ctrl-C, or SIGHUP
when the terminal closes): it then sends SIGTERM to each child's whole group, as a platform
does, and kills whatever is left after GRACE_SECONDS. It signals before it prints: with the
output piped (`make run | tee log`), Ctrl-C ends the reader too, and a write can fail.
"""

import argparse
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# The simulator must sign with the very credentials the service checks (its dev fallbacks or the
# environment's), so they are read from the service's settings module, not repeated here.
from config import settings as service  # noqa: E402

GRACE_SECONDS = 4
# Web and the worker cut the work in hand short before the stack's grace ends (gunicorn kills a
# worker process still answering a request; a task cut short is repaired by the cleanup), so
# they stop by themselves rather than by SIGKILL. Stopping takes 1.2-1.6 s, also with every core
# busy, yet under CI's load web once took longer than 4 s on gunicorn's own 30 s grace.
WEB_GRACE_SECONDS = 3
WORKER_GRACE_SECONDS = 3
PR_SET_CHILD_SUBREAPER = 36  # prctl(2)


def say(line: str) -> None:
    """Prints, unless nobody reads any more (the pipe's reader or the terminal is gone)."""
    try:
        print(line, flush=True)
    except OSError:
        # Later writes, and the flush at exit, would fail the same way.
        sys.stdout = open(os.devnull, "w")


def start(name: str, command: list[str], env: dict) -> subprocess.Popen:
    say(f"[stack] starting {name}: {' '.join(command)}")
    return subprocess.Popen(command, env=env, start_new_session=True)


def signal_group(child: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(child.pid, signum)
    except ProcessLookupError:
        pass  # the whole group has ended


def adopt_orphans() -> None:
    """On Linux, makes the stack the parent of what its children leave behind: gunicorn's
    master kills its workers at its grace and exits at once, and the workers' remains then wait
    for PID 1 to reap them, which in a container can take seconds. Adopted, the stack reaps
    them itself (`reap`)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def reap(group: int) -> None:
    """Reaps the ended processes of `group` that the stack adopted."""
    with contextlib.suppress(ChildProcessError, AttributeError):
        while os.waitid(os.P_PGID, group, os.WEXITED | os.WNOHANG):
            pass


def group_gone(child: subprocess.Popen, deadline: float) -> bool:
    """Waits until the child and every other process of its group have ended, or until
    `deadline` (time.monotonic()); True when they have."""
    try:
        child.wait(timeout=max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        return False
    while True:
        reap(child.pid)
        try:
            os.killpg(child.pid, 0)
        except ProcessLookupError:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def stop(children: dict[str, subprocess.Popen]) -> None:
    for child in children.values():
        signal_group(child, signal.SIGTERM)
    say(f"[stack] stopping {', '.join(children)}")
    deadline = time.monotonic() + GRACE_SECONDS
    for name, child in children.items():
        if not group_gone(child, deadline):
            say(f"[stack] {name} did not stop in {GRACE_SECONDS} s: killing it")
            signal_group(child, signal.SIGKILL)
            group_gone(child, time.monotonic() + 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", default="8000")
    parser.add_argument("--sim-port", default="8765")
    parser.add_argument("--no-sim", action="store_true", help="Do not start the local Twilio.")
    parser.add_argument(
        "--then", help="A command to run once everything is up (e.g. the demo); the stack stays."
    )
    args = parser.parse_args()
    env = dict(os.environ)
    env.setdefault("PUBLIC_BASE_URL", f"http://127.0.0.1:{args.port}")
    env.setdefault("TWILIO_API_BASE_URL", f"http://127.0.0.1:{args.sim_port}")
    python = sys.executable
    commands = {
        "web": [
            python,
            "-m",
            "gunicorn",
            "config.wsgi",
            "--bind",
            f"127.0.0.1:{args.port}",
            "--workers",
            "2",
            "--threads",
            "4",
            "--log-level",
            "warning",
            "--graceful-timeout",
            str(WEB_GRACE_SECONDS),
        ],
        "worker": [python, "manage.py", "qcluster", "--grace", str(WORKER_GRACE_SECONDS)],
    }
    if not args.no_sim:
        commands["twilio_sim"] = [
            python, "-m", "twilio_sim", "--port", args.sim_port,
            "--account-sid", service.TWILIO_ACCOUNT_SID,
            "--auth-token", service.TWILIO_AUTH_TOKEN,
        ]  # fmt: skip
    admin = subprocess.run(
        [python, "manage.py", "dev_admin"], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    stopping = []
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda signum, frame: stopping.append(signum))
    adopt_orphans()
    children = {name: start(name, command, env) for name, command in commands.items()}
    banner = f"[stack] admin: http://127.0.0.1:{args.port}/admin/  {admin}  (Ctrl-C stops all)"
    say(banner)
    if args.then:
        children["demo"] = subprocess.Popen(args.then, shell=True, env=env, start_new_session=True)
    try:
        while not stopping:
            ended = [name for name, child in children.items() if child.poll() is not None]
            if "demo" in ended:
                code = children.pop("demo").returncode
                say(f"[stack] demo finished ({code}); serving until Ctrl-C")
                say(banner)
            elif ended:
                say(f"[stack] {', '.join(ended)} exited: stopping the rest")
                return 1
            time.sleep(0.1)
    finally:
        stop(children)
        say("[stack] stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
