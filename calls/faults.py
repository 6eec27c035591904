"""Fault points: where the end-to-end tests kill a process, to show that a crash at that very step
loses no call, dials no number twice and frees every slot.

Inert unless settings.FAULT_POINTS names the point (production never sets it). The first process
to reach a named point SIGKILLs itself there, as the OOM killer or a dying host would: no
`finally` runs, and nothing is rolled back but by the database itself. A marker file in
settings.FAULT_DIR, created with O_EXCL, makes each point fire once across every process, so the
work it cut short can be retried; its modification time says when the kill happened.
"""

import os
import signal
from pathlib import Path

from django.conf import settings
from django.core.checks import Error

from calls.models import CallLog

POINTS = {
    "claim": "dispatch: inside the claim transaction, a pending call just created",
    "dial-token": "dispatch: holding a calls-per-second token, the call not yet stamped",
    "dial-stamped": "dispatch: the call stamped, its create not yet sent",
    "create-returned": "dispatch: Twilio's create answered, the SID not yet stored",
    "cleanup": "cleanup: holding its lease, failing a never-sent call, not yet committed",
    "callback-<status>": "a status callback: the report applied, not yet committed",
}


def fault_point(name: str) -> None:
    """Kills this process here, once, if settings.FAULT_POINTS names `name`."""
    if name not in settings.FAULT_POINTS:
        return
    try:
        marker = os.open(Path(settings.FAULT_DIR) / name, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return
    os.write(marker, f"{os.getpid()}\n".encode())
    os.close(marker)
    os.kill(os.getpid(), signal.SIGKILL)


def fault_points_check(app_configs, **kwargs) -> list[Error]:
    """A misspelt point would never fire, and a test relying on it would prove nothing."""
    known = set(POINTS) | {f"callback-{status}" for status in CallLog.RANK}
    errors = [
        Error(f"FAULT_POINTS names an unknown point {name!r}.", id="calls.E001")
        for name in settings.FAULT_POINTS
        if name not in known
    ]
    if settings.FAULT_POINTS and not Path(settings.FAULT_DIR or "/nonexistent").is_dir():
        errors.append(Error("FAULT_POINTS needs FAULT_DIR, a directory.", id="calls.E002"))
    return errors
