from django.db import models
from django.utils import timezone


class StatusQuerySet(models.QuerySet):
    """Status writes for a model with a TRANSITIONS table: {status: what may follow}."""

    def status_move(self, to: str, **changes) -> int:
        """Moves the rows whose status may be followed by `to`; returns how many moved.

        One conditional UPDATE: a row the table does not allow to move is left as it is, and of
        two writers racing for one row only the first moves it (the second finds it moved).
        """
        sources = [s for s, following in self.model.TRANSITIONS.items() if to in following]
        rows = self.filter(status__in=sources)
        return rows.update(status=to, updated_at=timezone.now(), **changes)
