"""SVG charts rendered in Python (no third-party JS): horizontal bars, one or two series.

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


def _fmt(v: Decimal) -> str:
    return f"{v:.2f}" if v != v.to_integral_value() else f"{v:.0f}"


def bar_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[object]]],
    *,
    unit: str = "",
    ident: str = "chart",
) -> str:
    """Horizontal bars: a row per label, a bar per series (e.g. purchased vs assigned)."""
    values = [[_num(v) for v in vs] for _, vs in series]
    top = max((v for vs in values for v in vs), default=Decimal(0))
    per_row = ROW * max(1, len(series)) + 10
    legend_h = 24
    height = legend_h + per_row * max(1, len(labels)) + 10
    width = LABEL_WIDTH + BAR_WIDTH + VALUE_WIDTH
    desc = "; ".join(
        f"{label}: " + ", ".join(f"{name} {_fmt(values[s][i])}{unit}" for s, (name, _) in enumerate(series))
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
                f'<text x="{LABEL_WIDTH + w + 6:.1f}" y="{y + ROW / 2 + 1:.0f}" font-size="12">{_fmt(v)}{escape(unit)}</text>'
            )
    out.append("</svg>")
    return "\n".join(out)
