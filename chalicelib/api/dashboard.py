"""The dashboard page: one HTML document with its stylesheet and script inlined.

One response means one round trip, and no relative asset URL to break behind the API
Gateway stage prefix (`/api/`). Everything ships in chalicelib, so it works offline.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from chalicelib.kpi_fields import TABLES

_ASSETS = Path(__file__).resolve().parent.parent / "dashboard"


@cache
def page() -> str:
    html = (_ASSETS / "index.html").read_text(encoding="utf-8")
    style = (_ASSETS / "dashboard.css").read_text(encoding="utf-8")
    script = (_ASSETS / "dashboard.js").read_text(encoding="utf-8")
    return (
        html.replace("<!-- style -->", f"<style>\n{style}</style>")
        .replace("<!-- kpi-fields -->", f'<script type="application/json" id="kpi-fields">{kpi_fields_json()}</script>')
        .replace("<!-- script -->", f"<script>\n{script}</script>")
    )


def kpi_fields_json() -> str:
    """The KPI fields' labels and units for the page's script, by table and field (from the one
    definition, so the page never carries a copy); safe inside a <script> element."""
    fields = {t.schema: {f.name: {"label": f.label, "unit": f.unit.value} for f in t.fields} for t in TABLES}
    return json.dumps(fields).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
