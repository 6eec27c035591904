"""The simulator's clock: real time scaled by `speed`, or a manual clock that moves when told."""

import datetime
import time

REAL = "real"
MANUAL = "manual"


class SimClock:
    """Simulated seconds since start; `moment(t)` gives the real UTC time Twilio would report."""

    def __init__(self, *, speed=1.0, mode=REAL):
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

    def moment(self, sim_seconds):
        """The real UTC time of simulated time `sim_seconds` (not later than now).

        Timestamps stay on the real calendar whatever the speed, so a service comparing them with
        its own clock (a `StartTime>` filter from a stamp it took) sees the order it expects;
        only durations are simulated.
        """
        now = datetime.datetime.now(datetime.UTC)
        if self.manual:
            return now
        behind = max(0.0, (self.now() - sim_seconds) / self.speed)
        return now - datetime.timedelta(seconds=behind)

    def _check(self):
        if self.mode not in (REAL, MANUAL):
            raise ValueError(f"clock must be {REAL!r} or {MANUAL!r}")
        if self.speed <= 0:
            raise ValueError("speed must be > 0")
