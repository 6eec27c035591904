"""The dashboard's charts, drawn on the server as SVG: no JavaScript library, nothing fetched from
elsewhere, so the admin works offline and the charts read the same in every browser."""

import math
from datetime import timedelta

from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

# One colour per outcome, the same in the table's legend.
OUTCOME_COLOURS = {
    "completed": "#2e7d32",
    "busy": "#f9a825",
    "no-answer": "#8d6e63",
    "failed": "#c62828",
    "canceled": "#607d8b",
}


def _svg(width: int, height: int, title: str, body: list[str]) -> SafeString:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="100%" role="img" aria-label="{escape(title)}" class="chart">'
        f"<title>{escape(title)}</title>"
    )
    return mark_safe(head + "".join(body) + "</svg>")


def _nice_max(value: float) -> float:
    """The smallest of 1, 2, 5 × 10^n at or above `value` (an axis's top)."""
    step = 10.0 ** math.floor(math.log10(value)) if value > 0 else 1.0
    while True:
        for factor in (1, 2, 5):
            if value <= factor * step * (1 + 1e-9):
                return round(factor * step, 12)
        step *= 10


def outcomes_chart(series, outcomes) -> SafeString:
    """Stacked bars: calls ended per minute (averaged over each bin), by outcome, over the day."""
    width, height, left, bottom, top = 760, 240, 44, 24, 28
    plot_w, plot_h = width - left - 8, height - bottom - top
    per_minute = {o: series.per_minute(o) for o in outcomes}
    n = len(series.counts)
    totals = [sum(per_minute[o][i] for o in outcomes) for i in range(n)]
    y_max = _nice_max(max(totals, default=0) or 1)
    bar_w = plot_w / max(n, 1)
    body = []
    for fraction in (0, 0.5, 1):
        y = top + plot_h * (1 - fraction)
        body.append(
            f'<line x1="{left}" x2="{width - 8}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{y_max * fraction:g}</text>'
        )
    for i in range(n):
        y = top + plot_h
        for outcome in outcomes:
            value = per_minute[outcome][i]
            if not value:
                continue
            h = plot_h * value / y_max
            y -= h
            body.append(
                f'<rect x="{left + i * bar_w:.1f}" y="{y:.1f}" width="{max(bar_w - 0.5, 0.5):.1f}"'
                f' height="{h:.1f}" fill="{OUTCOME_COLOURS[outcome]}"><title>'
                f"{escape(outcome)}: {value:g}/min</title></rect>"
            )
    # An hour label every three hours, in the operator's zone.
    for i in range(n):
        at = timezone.localtime(series.start + timedelta(minutes=i * series.bin_minutes))
        if at.minute < series.bin_minutes and at.hour % 3 == 0:
            x = left + i * bar_w
            body.append(
                f'<text x="{x:.1f}" y="{height - 6}" text-anchor="middle">{at:%H:%M}</text>'
            )
    legend = "".join(
        f'<rect x="{left + 8 + k * 110}" y="4" width="10" height="10" '
        f'fill="{OUTCOME_COLOURS[o]}"/><text x="{left + 22 + k * 110}" y="13">'
        f"{escape(o)}</text>"
        for k, o in enumerate(outcomes)
    )
    body.append(legend)
    return _svg(width, height, "Calls per minute by outcome, last 24 hours", body)


def live_against_caps_chart(states) -> SafeString:
    """One bar per business: its live calls against its cap (red when at the cap)."""
    row_h, left, width = 22, 180, 760
    height = max(len(states), 1) * row_h + 8
    plot_w = width - left - 70
    scale = max([s.cap for s in states] + [s.live for s in states] + [1])
    body = []
    for k, state in enumerate(states):
        y = 4 + k * row_h
        cap_w = plot_w * state.cap / scale
        live_w = plot_w * state.live / scale
        full = state.cap and state.live >= state.cap
        name = escape(state.business.name[:28])
        body.append(
            f'<text x="{left - 6}" y="{y + 14}" text-anchor="end">{name}</text>'
            f'<rect x="{left}" y="{y + 3}" width="{cap_w:.1f}" height="14" class="cap"/>'
            f'<rect x="{left}" y="{y + 3}" width="{live_w:.1f}" height="14" '
            f'class="{"live full" if full else "live"}"/>'
            f'<text x="{left + max(cap_w, live_w) + 6:.1f}" y="{y + 14}">'
            f"{state.live} / {state.cap}</text>"
        )
    if not states:
        body.append(f'<text x="{left}" y="18">No business to show.</text>')
    return _svg(width, height, "Live calls against each business's cap", body)
