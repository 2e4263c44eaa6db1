"""SVG charts rendered in Python (no third-party JS): horizontal bars, one or two series,
and vertical bars grouped per month (the evolution over time).

The SVG is built from escaped text only, has a title and a description for screen
readers, and scales with the page (viewBox)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from html import escape

COLORS = ("#2563a8", "#e08a1e")
ROW = 26
LABEL_WIDTH = 260
BAR_WIDTH = 420
VALUE_WIDTH = 90


def _num(v: object) -> Decimal:
    try:
        return Decimal(str(v)) if v is not None else Decimal(0)
    except ArithmeticError:
        return Decimal(0)


def _fmt(v: Decimal, money: bool = False) -> str:
    """A value as the tables print it: money always with its cents (156.00), counts whole."""
    if money:
        return f"{v:.2f}"
    return f"{v:.2f}" if v != v.to_integral_value() else f"{v:.0f}"


def bar_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[object]]],
    *,
    unit: str = "",
    ident: str = "chart",
    money: bool = False,
) -> str:
    """Horizontal bars: a row per label, a bar per series (e.g. purchased vs assigned)."""
    values = [[_num(v) for v in vs] for _, vs in series]
    top = max((v for vs in values for v in vs), default=Decimal(0))
    per_row = ROW * max(1, len(series)) + 10
    legend_h = 24
    height = legend_h + per_row * max(1, len(labels)) + 10
    width = LABEL_WIDTH + BAR_WIDTH + VALUE_WIDTH
    desc = "; ".join(
        f"{label}: " + ", ".join(f"{name} {_fmt(values[s][i], money)}{unit}" for s, (name, _) in enumerate(series))
        for i, label in enumerate(labels)
    )
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{ident}-t {ident}-d" class="chart" width="100%" preserveAspectRatio="xMinYMin meet">',
        f'<title id="{ident}-t">{escape(title)}</title>',
        f'<desc id="{ident}-d">{escape(desc) if labels else "no data"}</desc>',
    ]
    x = LABEL_WIDTH
    for s, (name, _) in enumerate(series):
        out.append(f'<rect x="{x}" y="4" width="12" height="12" fill="{COLORS[s % len(COLORS)]}"/>')
        out.append(f'<text x="{x + 18}" y="14" font-size="12">{escape(name)}</text>')
        x += 30 + 8 * len(name)
    if not labels:
        out.append(f'<text x="10" y="{legend_h + 16}" font-size="13">No data for this view.</text>')
    for i, label in enumerate(labels):
        y0 = legend_h + i * per_row
        short = label if len(label) <= 38 else label[:36] + "…"
        out.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{y0 + per_row / 2 + 4:.0f}" font-size="12" text-anchor="end">{escape(short)}</text>'
        )
        for s in range(len(series)):
            v = values[s][i]
            w = 0 if top <= 0 else float(v / top) * BAR_WIDTH
            y = y0 + 4 + s * ROW
            out.append(
                f'<rect x="{LABEL_WIDTH}" y="{y}" width="{max(w, 1):.1f}" height="{ROW - 6}" fill="{COLORS[s % len(COLORS)]}"/>'
            )
            out.append(
                f'<text x="{LABEL_WIDTH + w + 6:.1f}" y="{y + ROW / 2 + 1:.0f}" font-size="12">{_fmt(v, money)}{escape(unit)}</text>'
            )
    out.append("</svg>")
    return "\n".join(out)


MONTH_WIDTH = 900
MONTH_HEIGHT = 280
PLOT_LEFT = 70
PLOT_TOP = 34
PLOT_BOTTOM = 36
TICKS = 4


def _nice_top(top: Decimal) -> Decimal:
    """A round axis maximum at or above ``top`` (1, 1.2, 1.6, 2, 2.4, 3, 4, 5, 6 or 8 × a
    power of ten: a quarter of each is a round tick too)."""
    if top <= 0:
        return Decimal(1)
    power = Decimal(10) ** (len(str(int(top))) - 1) if top >= 1 else Decimal("0.1")
    for step in ("1", "1.2", "1.6", "2", "2.4", "3", "4", "5", "6", "8", "10"):
        if top <= power * Decimal(step):
            return power * Decimal(step)
    return power * 10


def month_chart(
    title: str,
    months: Sequence[str],
    series: Sequence[tuple[str, Sequence[object]]],
    *,
    unit: str = "",
    ident: str = "chart",
    money: bool = False,
) -> str:
    """Vertical bars grouped per month (left to right in time), a bar per series, on a
    value axis with gridlines; each bar's value above it."""
    values = [[_num(v) for v in vs] for _, vs in series]
    top = _nice_top(max((v for vs in values for v in vs), default=Decimal(0)))
    bottom = min((v for vs in values for v in vs), default=Decimal(0))
    low = min(Decimal(0), bottom)
    span = top - low
    plot_w = MONTH_WIDTH - PLOT_LEFT - 10
    plot_h = MONTH_HEIGHT - PLOT_TOP - PLOT_BOTTOM

    def y(v: Decimal) -> float:
        return PLOT_TOP + float((top - v) / span) * plot_h

    desc = "; ".join(
        f"{m}: " + ", ".join(f"{name} {_fmt(values[s][i], money)}{unit}" for s, (name, _) in enumerate(series))
        for i, m in enumerate(months)
    )
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {MONTH_WIDTH} {MONTH_HEIGHT}" role="img" '
        f'aria-labelledby="{ident}-t {ident}-d" class="chart" width="100%" preserveAspectRatio="xMinYMin meet">',
        f'<title id="{ident}-t">{escape(title)}</title>',
        f'<desc id="{ident}-d">{escape(desc) if months else "no data"}</desc>',
        f'<text x="{PLOT_LEFT}" y="14" font-size="13" font-weight="600">{escape(title)}</text>',
    ]
    x = PLOT_LEFT + 8 * len(title) + 30
    for s, (name, _) in enumerate(series):
        out.append(f'<rect x="{x}" y="4" width="12" height="12" fill="{COLORS[s % len(COLORS)]}"/>')
        out.append(f'<text x="{x + 18}" y="14" font-size="12">{escape(name)}</text>')
        x += 30 + 8 * len(name)
    for k in range(TICKS + 1):
        v = low + span * k / TICKS
        yy = y(v)
        out.append(
            f'<line x1="{PLOT_LEFT}" x2="{MONTH_WIDTH - 10}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#d0d5dd" stroke-width="1"/>'
        )
        out.append(
            f'<text x="{PLOT_LEFT - 6}" y="{yy + 4:.1f}" font-size="11" text-anchor="end">{_fmt(v)}{escape(unit)}</text>'
        )
    if not months:
        out.append(f'<text x="{PLOT_LEFT + 10}" y="{PLOT_TOP + 20}" font-size="13">No data for this view.</text>')
    slot = plot_w / max(1, len(months))
    bar = min(28.0, (slot - 8) / max(1, len(series)))
    for i, m in enumerate(months):
        x0 = PLOT_LEFT + i * slot + (slot - bar * len(series)) / 2
        for s in range(len(series)):
            v = values[s][i]
            y_top, y_zero = y(max(v, Decimal(0))), y(min(v, Decimal(0)))
            h = max(y_zero - y_top, 1.0)
            out.append(
                f'<rect x="{x0 + s * bar:.1f}" y="{y_top:.1f}" width="{bar - 2:.1f}" height="{h:.1f}" '
                f'fill="{COLORS[s % len(COLORS)]}"><title>{escape(m)} · {escape(series[s][0])}: {_fmt(v, money)}{escape(unit)}</title></rect>'
            )
            if len(series) == 1 or bar >= 40:
                out.append(
                    f'<text x="{x0 + s * bar + (bar - 2) / 2:.1f}" y="{y_top - 4:.1f}" font-size="10" '
                    f'text-anchor="middle">{_fmt(v, money)}</text>'
                )
        out.append(
            f'<text x="{PLOT_LEFT + i * slot + slot / 2:.1f}" y="{MONTH_HEIGHT - PLOT_BOTTOM + 16}" font-size="11" '
            f'text-anchor="middle">{escape(m)}</text>'
        )
    out.append(
        f'<line x1="{PLOT_LEFT}" x2="{MONTH_WIDTH - 10}" y1="{y(Decimal(0)):.1f}" y2="{y(Decimal(0)):.1f}" '
        'stroke="#667085" stroke-width="1"/>'
    )
    out.append("</svg>")
    return "\n".join(out)
