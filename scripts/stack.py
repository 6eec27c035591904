"""Starts web, worker and the local Twilio for `make run`; Ctrl-C stops them all.

Each child runs in its own session, so the terminal's Ctrl-C reaches only this script, which
then sends SIGTERM to each child's main process alone: django-q2 1.11 hangs when SIGTERM reaches
its whole process group (docs/architecture.md, "Stopping"). Whatever is left after a grace period is
killed with its group.
"""

import argparse
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

GRACE_SECONDS = 8


def start(name: str, command: list[str]) -> subprocess.Popen:
    print(f"[stack] starting {name}: {' '.join(command)}", flush=True)
    return subprocess.Popen(command, start_new_session=True)


def stop(children: dict[str, subprocess.Popen]) -> None:
    for name, child in children.items():
        if child.poll() is None:
            print(f"[stack] stopping {name}", flush=True)
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS
    for name, child in children.items():
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"[stack] {name} did not stop in {GRACE_SECONDS} s: killing it", flush=True)
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", default="8000")
    parser.add_argument("--sim-port", default="8765")
    parser.add_argument("--no-sim", action="store_true", help="Do not start the local Twilio.")
    parser.add_argument(
        "--then", help="A command to run once everything is up (e.g. the demo); the stack stays."
    )
    args = parser.parse_args()
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
        ],
        "worker": [python, "manage.py", "qcluster"],
    }
    if not args.no_sim:
        commands["twilio_sim"] = [
            python, "-m", "twilio_sim", "--port", args.sim_port,
            "--account-sid", service.TWILIO_ACCOUNT_SID,
            "--auth-token", service.TWILIO_AUTH_TOKEN,
        ]  # fmt: skip
    admin = subprocess.run(
        [python, "manage.py", "dev_admin"], capture_output=True, text=True, check=True
    ).stdout.strip()
    children = {name: start(name, command) for name, command in commands.items()}
    stopping = False

    def on_signal(signum, frame):
        nonlocal stopping
        stopping = True

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, on_signal)
    banner = f"[stack] admin: http://127.0.0.1:{args.port}/admin/  {admin}  (Ctrl-C stops all)"
    print(banner, flush=True)
    then = subprocess.Popen(args.then, shell=True, start_new_session=True) if args.then else None
    code = 0
    try:
        while not stopping:
            ended = [name for name, child in children.items() if child.poll() is not None]
            if ended:
                print(f"[stack] {', '.join(ended)} exited: stopping the rest", flush=True)
                code = 1
                break
            if then and then.poll() is not None:
                print(f"[stack] demo finished ({then.returncode}); serving until Ctrl-C")
                print(banner, flush=True)
                then = None
            time.sleep(0.2)
    finally:
        if then and then.poll() is None:
            then.terminate()
        stop(children)
    print("[stack] stopped", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
