"""Web (gunicorn), workers (qcluster) and the local Twilio as real processes, for end-to-end
tests and benchmarks. Each process leads its own group and is stopped the way platforms stop it:
SIGTERM to the whole group; a kill -9 takes the whole group, like a crashed host."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

from twilio_sim.control import SimControl

ROOT = Path(__file__).resolve().parents[2]
# Real-looking production values: with DEBUG off, every process refuses to start on the
# development defaults or on .env.example's placeholders.
SECRET_KEY = "live-stack-iPybao03rjWaM_F6uaeFdFAlB7TCjae7uqPr8SZbObsKElNsUkfXXJu3DYFF5rX2"
ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "adf37a08bbc36b0ae8369485eacb6b31"
FIELD_ENCRYPTION_KEY = "bGl2ZS1zdGFjay1maWVsZC1lbmNyeXB0aW9uLWtleS0="
DEVELOPMENT_SWITCHES = ("WEBHOOK_ALLOW_HTTP", "WEBHOOK_ALLOW_PRIVATE_TARGETS")
# `manage.py shell --command` for LiveStack.manage_each: each command through call_command,
# what it writes kept apart; the outputs as JSON on the last line.
MANAGE_EACH = """
import io, json
from django.core.management import call_command
outputs = []
for args in json.loads({commands!r}):
    out = io.StringIO()
    call_command(*args, stdout=out)
    outputs.append(out.getvalue())
print(json.dumps(outputs))
"""


def production_env(**settings: str) -> dict[str, str]:
    """This environment as a production process sees it (DEBUG off), plus `settings`."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_"))},
        # The Procfile's `python` is this interpreter.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "false",
        "SECRET_KEY": SECRET_KEY,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "FIELD_ENCRYPTION_KEYS": FIELD_ENCRYPTION_KEY,
        "REDIS_URL": "",
        # Plain HTTP on the loopback: no TLS to redirect to.
        "SECURE_SSL_REDIRECT": "false",
        "LOG_LEVEL": "WARNING",
        **settings,
    }


def live_members(pgid: int) -> list[int]:
    """The processes of group `pgid` that have not ended (a zombie waiting to be reaped holds
    nothing and counts as ended)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, _ppid, group = stat.read_text().rpartition(")")[2].split()[:3]
        except (OSError, ValueError):
            continue
        if int(group) == pgid and state != "Z":
            members.append(int(stat.parent.name))
    return members


def descendants(pid: int) -> list[int]:
    """Every process below `pid`, whatever session or group it moved to."""
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rpartition(")")[2].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        below = children.get(todo.pop(), [])
        found += below
        todo += below
    return found


def wait_until_gone(process: subprocess.Popen, timeout: float) -> list[int]:
    """Waits up to `timeout` s for every process of `process`'s group to end; returns those left."""
    deadline = time.monotonic() + timeout
    while True:
        process.poll()  # reaps the group's leader
        left = live_members(process.pid)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url(settings_dict: dict) -> str:
    """A DATABASE_URL for the database Django is using now (the test database in tests)."""
    user = settings_dict.get("USER") or "postgres"
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{user}@{host}:{port}/{settings_dict['NAME']}"


class LiveStack:
    def __init__(self, *, database_url, redis_url="", workers=1, web_workers=2, env=None, log_dir):
        self.web_port = free_port()
        self.sim_port = free_port()
        self.sim_url = f"http://127.0.0.1:{self.sim_port}"
        self.web_url = f"http://127.0.0.1:{self.web_port}"
        self.log_dir = Path(log_dir)
        self.worker_count = workers
        self.web_workers = web_workers
        # `env` may name the cluster (a benchmark queueing from its own process needs to).
        self.env = production_env(
            **{
                "DATABASE_URL": database_url,
                "REDIS_URL": redis_url,
                "Q_CLUSTER_NAME": f"live-{uuid.uuid4().hex[:8]}",
                "PUBLIC_BASE_URL": self.web_url,
                "TWILIO_API_BASE_URL": self.sim_url,
                **(env or {}),
            }
        )
        if self.env.get("FAULT_POINTS") or any(
            self.env.get(name) == "true" for name in DEVELOPMENT_SWITCHES
        ):
            # Production refuses to start with fault points or the webhooks' development
            # switches (config/checks.py): a stack that arms them runs as development does.
            self.env["DEBUG"] = "true"
        self.sim = SimControl(self.sim_url)
        self.processes = {}

    def _spawn(self, name, command):
        log = open(self.log_dir / f"{name}.log", "ab")
        self.processes[name] = subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def start(self):
        python = sys.executable
        self._spawn(
            "twilio_sim",
            [python, "-m", "twilio_sim", "--port", str(self.sim_port),
             "--account-sid", ACCOUNT_SID, "--auth-token", AUTH_TOKEN],
        )  # fmt: skip
        self._spawn(
            "web",
            [python, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{self.web_port}",
             "--workers", str(self.web_workers), "--log-level", "warning"],
        )  # fmt: skip
        for n in range(self.worker_count):
            self.start_worker(n)
        self._wait_for(f"{self.sim_url}/_sim/stats")
        self._wait_for(f"{self.web_url}/healthz")
        return self

    def start_worker(self, n):
        self._spawn(f"worker{n}", [sys.executable, "manage.py", "qcluster"])

    def kill_worker(self, n):
        """kill -9 the whole cluster, as when its host dies: nothing gets to clean up."""
        process = self.processes[f"worker{n}"]
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def queue_task(self, func: str) -> None:
        """Queues `func` (a dotted path) on the stack's broker, as the schedule does."""
        self.manage("shell", "-c", f"from django_q.tasks import async_task; async_task({func!r})")

    def fault_fired_at(self, point: str) -> float | None:
        """When a process killed itself at `point` (calls/faults.py), or None if none has."""
        marker = Path(self.env.get("FAULT_DIR", "/nonexistent")) / point
        return marker.stat().st_mtime if marker.exists() else None

    def wait_for_fault(self, point: str, timeout=60) -> float:
        deadline = time.monotonic() + timeout
        while (fired_at := self.fault_fired_at(point)) is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"nothing reached fault point {point!r}; see {self.log_dir}")
            time.sleep(0.05)
        return fired_at

    def _wait_for(self, url, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(url, timeout=2)
                return
            except urllib.error.HTTPError:
                return  # it answers, whatever it thinks of its health
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{url} did not come up; see {self.log_dir}") from None
                time.sleep(0.1)

    def manage(self, *args) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True,
            text=True, timeout=120,
        )  # fmt: skip
        if result.returncode:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr}")
        return result.stdout

    def manage_each(self, *commands: list[str]) -> list[str]:
        """Runs each command (`manage.py` arguments), in order, in one process of the stack's
        environment, and returns what each printed: one Django start instead of one each
        (about 2 s of a core apiece), for a benchmark that queues calls business by business."""
        script = MANAGE_EACH.format(commands=json.dumps([list(c) for c in commands]))
        out = self.manage("shell", "--no-startup", "--no-imports", "--command", script)
        return json.loads(out.splitlines()[-1])

    def stop(self):
        """SIGTERM to each process's whole group, as a platform stops it; returns the names of
        those with a process left after 15 s (then killed)."""
        for process in self.processes.values():
            if live_members(process.pid):
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        stuck = []
        for name, process in self.processes.items():
            if wait_until_gone(process, max(0.1, deadline - time.monotonic())):
                stuck.append(name)
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        return stuck

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class PrivatePostgres:
    """A throwaway PostgreSQL cluster (initdb into a temporary directory, served on a free port)
    that a test may stop and restart: the shared server on 5432 serves other runs and CI.

    initdb refuses to run as root, so as root every PostgreSQL command runs as `postgres`.
    """

    def __init__(self):
        self.bin = self.binaries()
        self.port = free_port()
        self.home = Path(tempfile.mkdtemp(prefix="calls-pg-"))  # not under pytest's 0700 tmp
        self.data = self.home / "data"

    @staticmethod
    def binaries() -> Path | None:
        """The newest PostgreSQL server binaries installed, or None."""
        found = [p.parent for p in Path("/usr/lib/postgresql").glob("*/bin/pg_ctl")]
        return max(found, key=lambda p: int(p.parent.name), default=None)

    def _run(self, program, *args):
        as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run(
            [*as_postgres, str(self.bin / program), *args], check=True, capture_output=True,
            timeout=120,
        )  # fmt: skip

    def init(self, *databases):
        if os.geteuid() == 0:
            shutil.chown(self.home, "postgres")
        self._run("initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "--no-sync")
        self.start()
        for name in databases:
            self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return self

    def start(self):
        options = f"-p {self.port} -k {self.home} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", self.data, "-l", self.home / "server.log", "-o", options, "start")

    def stop(self, mode="immediate"):
        """`immediate` is a crash: clients cut off at once, recovery from the WAL on start."""
        self._run("pg_ctl", "-D", self.data, "-m", mode, "stop")

    def url(self, database) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def destroy(self):
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(self.home, ignore_errors=True)
