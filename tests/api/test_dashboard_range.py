"""The dashboard opens on the days that hold data, and says which days are incomplete."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import pytest

from app import app
from tests.api.test_dashboard import CHROMIUM, Elements, chromium
from tests.api_support import case_item, moto_tables, put_all, serve, synthetic_kpis

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed: run `make browser` (apt-get install chromium)"
)
FIRST, DAYS = date(2025, 3, 1), 5  # like the sample files: five days of orders
# The per-day field of /kpis/daily that counts the day's order items still waiting for their
# order or product (the `engine` branch adds it; see docs/api.md).
WAITING = "items_waiting"
INCOMPLETE = {"2025-03-02": 7, "2025-03-04": 2}


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    with moto_tables() as tables:
        daily, categories = synthetic_kpis(FIRST, DAYS)
        for item in daily:
            item[WAITING] = INCOMPLETE.get(item["order_date"], 0)
        put_all(tables["DailyKpisTable"], daily)
        put_all(tables["CategoryKpisTable"], categories)
        broken = case_item("broken-1", Decimal("2000"), "2025-03-05T10:00:00.000Z")
        del broken["customer_email"]  # written by some other tool: the API cannot serve it
        put_all(tables["PremiumCasesTable"], [case_item("ok-1", Decimal("1500"), "2025-03-05T09:00:00.000Z"), broken])
        with serve(app) as base_url:
            yield base_url


def page(url: str) -> Elements:
    dom = Elements(chromium("--dump-dom", url))
    assert dom.having("body", data_state="ready"), "the page never finished loading"
    return dom


def test_the_dashboard_opens_on_the_days_that_hold_data(site: str) -> None:
    dom = page(f"{site}/")
    assert dom.having("input", id="from", value="2025-03-01") and dom.having("input", id="to", value="2025-03-05")
    assert len(dom.having("svg", data_points=str(DAYS))) == 3
    assert not dom.text_of("p", class_="empty")  # no empty chart, no empty day in the range


def test_an_item_the_api_cannot_serve_is_named_and_the_others_shown(site: str) -> None:
    dom = page(f"{site}/")
    assert [a["data-case"] for a in dom.having("tr") if "data-case" in a] == ["ok-1"]
    assert dom.text_of("p", id="unreadable") == (
        "1 stored item could not be shown: broken-1 (KeyError: 'customer_email')"
    )


def test_incomplete_days_are_named_and_marked(site: str) -> None:
    dom = page(f"{site}/?day=2025-03-04")
    notice = dom.text_of("p", id="incomplete")
    assert "Incomplete: 2 days (Mar 2, Mar 4) with 9 order items waiting" in notice
    marked = {a["data-day"] for a in dom.having("rect", class_="incomplete-day")}
    assert marked == set(INCOMPLETE)
    assert dom.text_of("span", id="category-day-label") == "Tue, Mar 4, 2025 (incomplete: 2 items waiting)"
