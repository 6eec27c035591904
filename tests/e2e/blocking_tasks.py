"""Tasks the worker tests queue to a real cluster."""

import os
from pathlib import Path

from django.db import connection


def pg_sleep_noting_pid(pid_path: str, seconds: float) -> None:
    """Notes the worker's pid, then blocks in C (libpq waiting on the server), where Python's
    SIGALRM handler never runs: only a signal that kills can end it."""
    Path(pid_path).write_text(str(os.getpid()))
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(%s)", [seconds])
