"""Small HTML building blocks for the report. Every piece of text passes through :func:`esc`.

No templating engine: the page is a handful of tables, figures and notes, and building it from escaped
fragments keeps the one rule — no unescaped string ever reaches the page — easy to check.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1200px;
padding:1em 2em;color:#222;background:#fff}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;font-size:.8em;margin:.5em 0}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:right}th{background:#f3f3f3}
td.t,th.t{text-align:left}tr:nth-child(even) td{background:#fafafa}
.warn{background:#fff3cd;border:2px solid #d39e00;padding:.8em 1em;margin:1em 0;font-weight:600}
.note{color:#666;font-size:.9em}figure{display:inline-block;margin:.4em;vertical-align:top}
figcaption{font-size:.8em;color:#333;max-width:300px;word-wrap:break-word}
img{max-width:100%}.pair{display:inline-block;border:1px solid #ddd;padding:4px;margin:4px}
nav a{margin-right:1em}.scroll{overflow-x:auto;max-width:100%}code{background:#f3f3f3;padding:0 3px}
"""


def esc(value: object) -> str:
    """Escape any value for use in HTML text or a double-quoted attribute."""
    return html.escape(str(value), quote=True)


def fmt(value: object, digits: int = 3) -> str:
    """Format a table cell: floats to ``digits`` decimals, NaN as an em dash, all escaped."""
    if isinstance(value, float | np.floating):
        value = float(value)
        if math.isnan(value):
            return "&mdash;"
        if value.is_integer() and abs(value) >= 1000:
            return esc(f"{value:.0f}")
        return esc(f"{value:.{digits}f}")
    return esc(value)


def table(df: pd.DataFrame, *, caption: str | None = None, digits: int = 3, cls: str = "") -> str:
    """Render a DataFrame (index dropped) as an HTML table; text columns are left-aligned."""
    text_cols = {c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])}
    head = "".join(f'<th class="{"t" if c in text_cols else ""}">{esc(c)}</th>' for c in df.columns)
    body = []
    for row in df.itertuples(index=False):
        cells = "".join(
            f'<td class="{"t" if c in text_cols else ""}">{fmt(v, digits)}</td>'
            for c, v in zip(df.columns, row, strict=True)
        )
        body.append(f"<tr>{cells}</tr>")
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return (f'<div class="scroll"><table class="{esc(cls)}">{cap}<thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def img(png: bytes, alt: str, *, width: int | None = None) -> str:
    """An ``<img>`` with the PNG embedded as a data URI (the report is one self-contained file)."""
    w = f' width="{int(width)}"' if width else ""
    return f'<img src="{data_uri(png)}" alt="{esc(alt)}"{w}>'


def figure(png: bytes, caption: str, *, width: int | None = None) -> str:
    return f"<figure>{img(png, caption, width=width)}<figcaption>{esc(caption)}</figcaption></figure>"


def para(text: str, cls: str = "") -> str:
    c = f' class="{esc(cls)}"' if cls else ""
    return f"<p{c}>{esc(text)}</p>"


def bullet_list(items: Iterable[str]) -> str:
    return "<ul>" + "".join(f"<li>{esc(i)}</li>" for i in items) + "</ul>"


def page(title: str, sections: Sequence[tuple[str, str, str]], *, banner: str = "") -> str:
    """Assemble the page from ``(anchor, heading, inner_html)`` sections (inner HTML already escaped)."""
    nav = "".join(f'<a href="#{esc(a)}">{esc(h)}</a>' for a, h, _ in sections)
    body = "".join(f'<section id="{esc(a)}"><h2>{esc(h)}</h2>{inner}</section>' for a, h, inner in sections)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head>"
        f"<body><h1>{esc(title)}</h1>{banner}<nav>{nav}</nav>{body}</body></html>\n"
    )
