"""The dashboard in a real headless Chromium against the API served locally on moto.

Chromium runs the page's script to completion (`--virtual-time-budget` lets the page's
fetches finish first), then dumps the DOM we assert on and a screenshot for people.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from app import app
from chalicelib.kpi_fields import TABLES
from chalicelib.orders.events import EventName, OrderChange
from chalicelib.orders.model import new_order
from chalicelib.orders.repository import OrderRepository
from chalicelib.runs import RunRepository, RunStatus, Task
from chalicelib.storage_layout import RunIdentity
from chalicelib.streaming.premium import PremiumCaseRepository
from tests.api_support import CATEGORIES, moto_tables, put_all, serve, synthetic_kpis

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output"
FIRST, DAYS = date(2024, 1, 1), 91  # 2024-01-01 .. 2024-03-31
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed: run `make browser` (apt-get install chromium)"
)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--virtual-time-budget=20000",
]


class Elements(HTMLParser):
    """Every element of a dumped DOM, with its attributes and own text."""

    def __init__(self, markup: str) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str], list[str]]] = []
        self.feed(markup)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, {k: v or "" for k, v in attrs}, []))

    def handle_data(self, data: str) -> None:
        if self.found and data.strip():
            self.found[-1][2].append(data.strip())

    def _matching(self, tag: str, attrs: dict[str, str]) -> list[tuple[dict[str, str], list[str]]]:
        """Keyword `data_state` means attribute `data-state`, `class_` means `class`."""
        wanted = {k.rstrip("_").replace("_", "-"): v for k, v in attrs.items()}
        return [(a, x) for t, a, x in self.found if t == tag and all(a.get(k) == v for k, v in wanted.items())]

    def having(self, tag: str, **attrs: str) -> list[dict[str, str]]:
        return [a for a, _ in self._matching(tag, attrs)]

    def text_of(self, tag: str, **attrs: str) -> str:
        return " ".join(" ".join(x) for _, x in self._matching(tag, attrs))


def chromium(*args: str) -> str:
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True, timeout=120
        )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def seed(tables: dict[str, Any]) -> None:
    daily, categories = synthetic_kpis(FIRST, DAYS)
    put_all(tables["DailyKpisTable"], daily)
    put_all(tables["CategoryKpisTable"], categories)
    runs = RunRepository(tables["RunsTable"])
    good = RunIdentity("shoppulse-input", "incoming/orders-2024-03.csv", "v1")
    bad = RunIdentity("shoppulse-input", "incoming/products broken.csv", "v1")
    crashed = RunIdentity("shoppulse-input", "incoming/orders-2024-04.csv", "v1")
    for identity in (good, bad, crashed):
        runs.start(identity, execution="arn:aws:states:us-east-1:123456789012:execution:kpis:x")
    runs.record_task(
        good.run_id,
        Task.VALIDATION,
        {"rows": 1200, "valid_rows": 1197, "rejected_rows": 3, "reasons": {"bad_status": 3}},
    )
    runs.record_task(good.run_id, Task.TRANSFORMATION, {"held_rows": 14, "days": 3})
    runs.finish(good.run_id, RunStatus.SUCCEEDED)
    runs.record_task(
        bad.run_id,
        Task.VALIDATION,
        {"status": "REJECTED", "reason": "unknown_header", "detail": "id,name,price", "rows": 0},
    )
    runs.finish(bad.run_id, RunStatus.REJECTED)
    runs.finish(crashed.run_id, RunStatus.FAILED, {"error": "States.TaskFailed", "cause": "transformation exited 3"})
    order = OrderRepository(tables["OrdersTable"]).create(
        new_order(
            order_id="ord-1001",
            customer_id="c-7",
            customer_email="vip@shop.example",
            line_items=[{"sku": "coat", "quantity": 2, "unitPrice": "740"}],
        )
    )
    PremiumCaseRepository(tables["PremiumCasesTable"]).open(
        OrderChange(
            event_id="e-1",
            event_name=EventName.MODIFY,
            sequence_number="1",
            stream_time=datetime(2024, 3, 30, 12, tzinfo=UTC),
            order_id=order["orderId"],
            old={**order, "status": "pending"},
            new={**order, "status": "shipped"},
        )
    )


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    with moto_tables() as tables:
        seed(tables)
        with serve(app) as base_url:
            yield base_url


def test_the_dashboard_draws_the_range_categories_runs_and_cases(site: str) -> None:
    OUTPUT.mkdir(exist_ok=True)
    url = f"{site}/?from=2024-01-01&to=2024-03-31&day=2024-03-15"
    dom = Elements(chromium("--dump-dom", url))
    assert dom.having("body", data_state="ready"), "the page never finished loading"
    assert not dom.text_of("p", id="notice"), dom.text_of("p", id="notice")
    assert len(dom.having("svg", data_points=str(DAYS))) == 3  # revenue, orders, return rate
    assert len([a for a in dom.having("rect") if a.get("class") == "bar"]) >= DAYS  # one bar a day
    assert len(dom.having("rect", class_="day-hit")) == 3 * DAYS
    assert dom.having("svg", data_categories=str(len(CATEGORIES)))
    assert "Fri, Mar 15, 2024" in dom.text_of("span", id="category-day-label")
    assert dom.having("input", id="from")  # the range the page shows is the one asked for
    assert {a["data-run"] for a in dom.having("tr") if "data-run" in a} == {
        f"s3://shoppulse-input/incoming/{name}?versionId=v1"
        for name in ("orders-2024-03.csv", "products broken.csv", "orders-2024-04.csv")
    }
    reasons = dom.text_of("span", class_="sub")
    assert "unknown_header: id,name,price" in reasons and "transformation exited 3" in reasons
    assert "held rows 14" in dom.text_of("td")
    assert [a["data-case"] for a in dom.having("tr") if "data-case" in a] == ["ord-1001"]
    revenue = dom.text_of("strong", data_total="revenue")
    assert revenue.startswith("$") and revenue != "$0.00"
    # Labels come from the KPI definition: the cards and captions, and one category column per KPI.
    labels = {f"{t.schema}.{f.name}": f.label for t in TABLES for f in t.fields}
    shown = [(a, " ".join(text)) for _, a, text in dom.found if "data-label" in a]
    assert len(shown) == 8
    assert [text for _, text in shown] == [labels[a["data-label"]] + a.get("data-label-suffix", "") for a, _ in shown]
    assert dom.text_of("text", class_="cat-head") == " ".join(f.label for f in TABLES[1].kpis)

    screenshot = OUTPUT / "dashboard.png"
    chromium(f"--screenshot={screenshot}", "--window-size=1360,1640", url)
    assert screenshot.stat().st_size > 20_000


def test_without_a_range_the_dashboard_finds_the_latest_data(site: str) -> None:
    dom = Elements(chromium("--dump-dom", f"{site}/"))
    assert dom.having("body", data_state="ready")
    assert dom.having("input", id="to", value="2024-03-31") or "Mar 31, 2024" in dom.text_of(
        "span", id="category-day-label"
    )
    assert len(dom.having("svg", data_points="90")) == 3  # the 90 days up to the latest day


def test_a_range_without_data_says_so_and_a_bad_range_shows_the_apis_reason(site: str) -> None:
    empty = Elements(chromium("--dump-dom", f"{site}/?from=2023-01-01&to=2023-03-31"))
    assert empty.having("body", data_state="ready")
    assert empty.text_of("p", class_="empty").count("No KPIs in this range.") == 3
    assert "No category KPIs for this day." in empty.text_of("p", class_="empty")
    too_long = Elements(chromium("--dump-dom", f"{site}/?from=2022-01-01&to=2024-03-31"))
    assert too_long.having("body", data_state="ready")
    assert "at most 366" in too_long.text_of("p", id="notice")
