"""Self-contained HTML pages (PNG embedded), written atomically.

A page is a title and sections; :func:`figure` and :func:`table` make section bodies.
"""

from __future__ import annotations

import base64
import html
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}"
    "img{max-width:100%}table{border-collapse:collapse;margin:.5em 0 1.5em}"
    "th,td{border-bottom:1px solid #ddd;padding:.3em .8em;text-align:right}"
    "th:first-child,td:first-child{text-align:left}h2{margin-top:1.6em}"
    ".note{color:#666;font-size:.9em}"
)


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def figure(caption: str, png: bytes) -> str:
    """An embedded PNG with its caption."""
    return (
        f'<figure><img src="{data_uri(png)}" alt="{html.escape(caption)}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def table(columns: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """An HTML table; numbers get thousands separators."""

    def cell(value: object) -> str:
        if isinstance(value, float):
            return f"{value:,.2f}"
        if isinstance(value, int):
            return f"{value:,}"
        return html.escape("" if value is None else str(value))

    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write_page(path: Path, title: str, sections: Sequence[tuple[str, str]], note: str = "") -> Path:
    """Write ``sections`` (heading, HTML body) as one page at ``path``; readers never see a
    half-written file."""
    body = "".join(f"<h2>{html.escape(h)}</h2>{content}" for h, content in sections)
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
        f"<p class='note'>{html.escape(note)}</p>{body}</body></html>"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as tmp:
        tmp.write(page)
    os.replace(tmp.name, path)
    return path
