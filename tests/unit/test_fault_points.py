"""calls/faults.py: inert unless named; a named point kills the process that reaches it, once."""

import os
import signal
import subprocess
import sys

from calls.faults import fault_point, fault_points_check
from tests.e2e.live_stack import ROOT

REACH = "import django; django.setup(); from calls.faults import fault_point as f; f('claim')"


def reach_claim(fault_dir):
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "FAULT_POINTS": "claim",
        "FAULT_DIR": str(fault_dir),
    }
    return subprocess.run([sys.executable, "-c", REACH], cwd=ROOT, env=environment, timeout=60)


def test_a_point_not_named_does_nothing(settings, tmp_path):
    settings.FAULT_POINTS = ["dial-token"]
    settings.FAULT_DIR = str(tmp_path)
    fault_point("claim")
    assert list(tmp_path.iterdir()) == []


def test_the_first_process_to_reach_a_named_point_is_killed_and_no_other(tmp_path):
    first = reach_claim(tmp_path)
    assert first.returncode == -signal.SIGKILL
    assert (tmp_path / "claim").read_text().strip().isdigit()  # the pid that was killed
    assert reach_claim(tmp_path).returncode == 0


def test_a_misspelt_point_or_no_marker_directory_is_an_error(settings, tmp_path):
    settings.FAULT_POINTS = ["claim", "callback-completed", "dial-tokn"]
    settings.FAULT_DIR = str(tmp_path)
    assert [e.id for e in fault_points_check(None)] == ["calls.E001"]
    settings.FAULT_POINTS = ["claim"]
    settings.FAULT_DIR = ""
    assert [e.id for e in fault_points_check(None)] == ["calls.E002"]
