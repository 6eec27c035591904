"""The simulator's clock: real time scaled by `speed`, or a manual clock that moves when told."""

import datetime
import time

REAL = "real"
MANUAL = "manual"


class SimClock:
    """Simulated seconds since start; `wall(t)` turns them into the UTC datetimes Twilio reports."""

    def __init__(self, *, speed=1.0, mode=REAL):
        self.started_at = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
        self._sim_base = 0.0
        self._real_base = time.monotonic()
        self.speed = float(speed)
        self.mode = mode
        self._check()

    @property
    def manual(self):
        return self.mode == MANUAL

    def now(self):
        if self.manual:
            return self._sim_base
        return self._sim_base + (time.monotonic() - self._real_base) * self.speed

    def set(self, sim_seconds):
        """Move a manual clock forward; it never goes back."""
        self._sim_base = max(self._sim_base, sim_seconds)

    def rebase(self, *, speed, mode):
        """Change speed or mode without a jump in simulated time."""
        now = self.now()
        self.speed, self.mode = float(speed), mode
        self._check()
        self._sim_base, self._real_base = now, time.monotonic()

    def real_seconds_until(self, sim_seconds):
        return (sim_seconds - self.now()) / self.speed

    def wall(self, sim_seconds):
        return self.started_at + datetime.timedelta(seconds=sim_seconds)

    def _check(self):
        if self.mode not in (REAL, MANUAL):
            raise ValueError(f"clock must be {REAL!r} or {MANUAL!r}")
        if self.speed <= 0:
            raise ValueError("speed must be > 0")
