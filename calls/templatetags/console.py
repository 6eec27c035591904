"""Filters of the operators' pages."""

from datetime import timedelta

from django import template

register = template.Library()


@register.filter
def duration_text(delta: timedelta | None) -> str:
    """ "45 s", "3 min 05 s", "2 h 10 min"; "-" for none."""
    if delta is None:
        return "-"
    seconds = int(delta.total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


@register.filter
def percent(share: float | None) -> str:
    """0.031 → "3 %"; "-" for none (nothing to divide by)."""
    return "-" if share is None else f"{share * 100:.0f} %"
