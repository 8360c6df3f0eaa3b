"""The one chart the product draws: horizontal bars as SVG inline in HTML, from ``templates/chart.svg``.

No scripts, nothing fetched, not even a namespace URL (the HTML parser puts ``<svg>`` in its namespace),
so self-contained documents stay so. The clearance report and a creator's income page both use it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup

from fairtrain.core.documents import render_document

WIDTH = 640
ROW = 22  # px per bar or group heading
LABEL_WIDTH = 200  # the bars start here
BAR_MAX = 380  # the longest bar of a group
LABEL_CHARS = 40
DEFAULT_COLOUR = "#1565c0"


@dataclass(frozen=True)
class Bar:
    """One bar: its label, its length (``value``), the text printed after it (the value with thousands
    separators unless given), its colour, its tooltip, and the group it belongs to (a currency, say).
    Bars of one group are scaled together and follow a heading row naming the group."""

    label: str
    value: int
    text: str | None = None
    colour: str = DEFAULT_COLOUR
    title: str | None = None
    group: str | None = None


def bar_chart(label: str, bars: Sequence[Bar]) -> Markup:
    """An SVG bar chart named ``label`` (its accessible name), one row per bar in the order given; a group
    heading where the group changes. Negative values draw as empty bars."""
    top: dict[str | None, int] = {}
    for b in bars:
        top[b.group] = max(top.get(b.group, 0), b.value)
    rows: list[dict] = []
    group: object = object()
    for b in bars:
        if b.group is not None and b.group != group:
            rows.append({"heading": b.group, "y": ROW * len(rows) + 2})
        group = b.group
        width = max(int(BAR_MAX * max(b.value, 0) / (top[b.group] or 1)), 1)
        rows.append(
            {
                "heading": None,
                "y": ROW * len(rows) + 2,
                "label": str(b.label)[:LABEL_CHARS],
                "width": width,
                "colour": b.colour,
                "title": b.title,
                "text": b.text if b.text is not None else f"{b.value:,}",
            }
        )
    svg = render_document(
        "chart.svg", label=label, rows=rows, width=WIDTH, height=ROW * len(rows) + 4, bar_x=LABEL_WIDTH
    )
    return Markup(svg.rstrip("\n"))


__all__ = ["Bar", "bar_chart"]
