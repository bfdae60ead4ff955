"""A self-contained HTML page of charts (PNG embedded), written atomically."""

from __future__ import annotations

import base64
import html
import os
import tempfile
from pathlib import Path


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def write_page(path: Path, title: str, charts: dict[str, bytes]) -> Path:
    """Write an HTML page showing ``charts`` (caption -> PNG) to ``path``; readers never see a
    half-written file."""
    figures = "\n".join(
        f'<figure><img src="{data_uri(png)}" alt="{html.escape(caption)}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        for caption, png in charts.items()
    )
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:2em}img{max-width:100%}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{figures}</body></html>"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as tmp:
        tmp.write(page)
    os.replace(tmp.name, path)
    return path
