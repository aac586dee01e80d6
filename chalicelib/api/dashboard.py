"""The dashboard page: one HTML document with its stylesheet and script inlined.

One response means one round trip, and no relative asset URL to break behind the API
Gateway stage prefix (`/api/`). Everything ships in chalicelib, so it works offline.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

_ASSETS = Path(__file__).resolve().parent.parent / "dashboard"


@cache
def page() -> str:
    html = (_ASSETS / "index.html").read_text(encoding="utf-8")
    style = (_ASSETS / "dashboard.css").read_text(encoding="utf-8")
    script = (_ASSETS / "dashboard.js").read_text(encoding="utf-8")
    return html.replace("<!-- style -->", f"<style>\n{style}</style>").replace(
        "<!-- script -->", f"<script>\n{script}</script>"
    )
