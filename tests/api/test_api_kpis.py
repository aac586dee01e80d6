"""The KPI routes over moto tables filled in the writer's shapes; assertions on HTTP bodies."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import boto3
import pytest
from chalice.test import Client

from app import app
from chalicelib.category_registry import CategoryRegistry
from tests.api_support import category_item, daily_item, put_all

CATEGORY = "Tops & Tees, Men"


@pytest.fixture
def client(tables: dict[str, Any]) -> Client:
    put_all(
        tables["DailyKpisTable"],
        [
            daily_item("2023-12-30", 4, "100.005", 9, 1, 3),
            daily_item("2023-12-31", 3, "50.10", 4, 0, 3),
            daily_item("2024-01-01", 6, "1234.5678", 12, 2, 5),
            daily_item("2024-01-03", 3, "10", 3, 1, 2),
            # A day whose orders all moved away keeps only its bookkeeping: never served.
            {
                "year": "2024",
                "order_date": "2024-01-02",
                "requested_generation": 2,
                "computed_generation": 2,
                "updated_at": "x",
            },
        ],
    )
    put_all(
        tables["CategoryKpisTable"],
        [
            category_item("2024-01-01", CATEGORY, 3, "600.125", 5, 1),
            category_item("2024-01-01", "Jeans", 4, "634.4428", 7, 1),
            category_item("2024-01-01", "Socks", 1, "0", 0, 0),
            category_item("2023-12-31", CATEGORY, 2, "50.10", 4, 0),
            category_item("2024-01-03", CATEGORY, 3, "10", 3, 3),
            category_item("2024-02-01", CATEGORY, 1, "99", 1, 0),
        ],
    )
    CategoryRegistry(tables["CategoryKpisTable"]).register([CATEGORY, "Jeans", "Socks", "Jeans"])
    with Client(app) as test_client:
        yield test_client


@pytest.fixture(autouse=True)
def no_scans(tables: dict[str, Any]) -> None:
    """Every read the API makes must be a Query or a GetItem (moto made a new default session)."""

    def refuse(**_: Any) -> None:
        raise AssertionError("the API scanned a table")

    boto3._get_default_session().events.register("before-call.dynamodb.Scan", refuse)


def get(client: Client, path: str) -> tuple[int, Any]:
    response = client.http.get(path)
    return response.status_code, response.json_body


def test_daily_range_is_ascending_across_years_rounded_and_without_bookkeeping(client: Client) -> None:
    status, body = get(client, "/kpis/daily?from=2023-12-30&to=2024-01-03")
    assert status == 200
    assert body == {
        "from": "2023-12-30",
        "to": "2024-01-03",
        "items": [
            {
                "order_date": "2023-12-30",
                "total_orders": 4,
                "total_revenue": 100.01,
                "total_items_sold": 9,
                "return_rate": 0.25,
                "unique_customers": 3,
            },
            {
                "order_date": "2023-12-31",
                "total_orders": 3,
                "total_revenue": 50.1,
                "total_items_sold": 4,
                "return_rate": 0.0,
                "unique_customers": 3,
            },
            {
                "order_date": "2024-01-01",
                "total_orders": 6,
                "total_revenue": 1234.57,
                "total_items_sold": 12,
                "return_rate": 0.3333,
                "unique_customers": 5,
            },
            {
                "order_date": "2024-01-03",
                "total_orders": 3,
                "total_revenue": 10.0,
                "total_items_sold": 3,
                "return_rate": 0.3333,
                "unique_customers": 2,
            },
        ],
    }


@pytest.mark.parametrize("limit", [1, 2, 3, 5])
def test_daily_pages_follow_each_other_across_the_year_boundary(client: Client, limit: int) -> None:
    dates, path, pages = [], f"/kpis/daily?from=2023-12-01&to=2024-06-30&limit={limit}", 0
    token = None
    while True:
        status, body = get(client, path + (f"&next_token={token}" if token else ""))
        assert status == 200 and len(body["items"]) <= limit
        dates += [item["order_date"] for item in body["items"]]
        pages += 1
        token = body.get("next_token")
        if not token:
            break
    assert dates == ["2023-12-30", "2023-12-31", "2024-01-01", "2024-01-03"]
    assert pages <= 5 // limit + 2  # 5 stored items (one without KPIs), at most one empty last page


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("to=2024-01-01", "from"),
        ("from=2024-01-01", "to"),
        ("from=2024-02-30&to=2024-03-01", "from"),
        ("from=20240101&to=2024-03-01", "from"),
        ("from=2024-03-02&to=2024-03-01", "from"),
        ("from=2023-01-01&to=2024-01-02", "to"),
        ("from=2024-01-01&to=2024-01-02&limit=0", "limit"),
        ("from=2024-01-01&to=2024-01-02&limit=367", "limit"),
        ("from=2024-01-01&to=2024-01-02&limit=ten", "limit"),
        ("from=2024-01-01&to=2024-01-02&next_token=not-a-token", "next_token"),
        ("from=2024-01-01&to=2024-01-02&next_token=%2B%2F%3D", "next_token"),
    ],
)
def test_bad_daily_parameters_are_400_naming_the_parameter(client: Client, query: str, parameter: str) -> None:
    status, body = get(client, f"/kpis/daily?{query}")
    assert status == 400
    assert body["Code"] == "BadRequestError" and body["parameter"] == parameter and body["Message"]


def test_a_full_leap_year_is_served_but_a_day_more_is_not(client: Client) -> None:
    assert get(client, "/kpis/daily?from=2024-01-01&to=2024-12-31")[0] == 200
    status, body = get(client, "/kpis/daily?from=2024-01-01&to=2025-01-01")
    assert status == 400 and "367 days" in body["Message"]


def test_a_token_cannot_be_replayed_on_another_range_or_edited(client: Client) -> None:
    _, first = get(client, "/kpis/daily?from=2023-12-01&to=2024-06-30&limit=1")
    token = first["next_token"]
    assert get(client, f"/kpis/daily?from=2024-01-01&to=2024-06-30&next_token={token}")[0] == 400
    edited = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    assert get(client, f"/kpis/daily?from=2023-12-01&to=2024-06-30&next_token={edited}")[0] == 400


def test_one_day(client: Client) -> None:
    assert get(client, "/kpis/daily/2024-01-03") == (
        200,
        {
            "order_date": "2024-01-03",
            "total_orders": 3,
            "total_revenue": 10.0,
            "total_items_sold": 3,
            "return_rate": 0.3333,
            "unique_customers": 2,
        },
    )


@pytest.mark.parametrize(
    ("day", "status"), [("2024-01-02", 404), ("2024-05-05", 404), ("2024-13-01", 400), ("yesterday", 400)]
)
def test_one_day_absent_or_invalid(client: Client, day: str, status: int) -> None:
    code, body = get(client, f"/kpis/daily/{day}")
    assert code == status and body["parameter"] == "date"


def test_categories_of_a_day_highest_revenue_first(client: Client) -> None:
    status, body = get(client, "/kpis/categories?date=2024-01-01")
    assert status == 200 and body["date"] == "2024-01-01"
    assert body["items"] == [
        {
            "category": "Jeans",
            "order_date": "2024-01-01",
            "daily_revenue": 634.44,
            "avg_order_value": 158.61,
            "avg_return_rate": 0.25,
        },
        {
            "category": CATEGORY,
            "order_date": "2024-01-01",
            "daily_revenue": 600.13,
            "avg_order_value": 200.04,
            "avg_return_rate": 0.3333,
        },
        {
            "category": "Socks",
            "order_date": "2024-01-01",
            "daily_revenue": 0.0,
            "avg_order_value": 0.0,
            "avg_return_rate": 0.0,
        },
    ]
    assert get(client, "/kpis/categories?date=2024-01-05") == (200, {"date": "2024-01-05", "items": []})
    assert get(client, "/kpis/categories")[1]["parameter"] == "date"


def test_one_category_over_a_range_by_its_encoded_name(client: Client) -> None:
    status, body = get(client, f"/kpis/categories/{quote(CATEGORY, safe='')}?from=2023-12-01&to=2024-01-31")
    assert status == 200 and body["category"] == CATEGORY and "next_token" not in body
    assert [(i["order_date"], i["daily_revenue"], i["avg_return_rate"]) for i in body["items"]] == [
        ("2023-12-31", 50.1, 0.0),
        ("2024-01-01", 600.13, 0.3333),
        ("2024-01-03", 10.0, 1.0),
    ]


def test_one_category_pages(client: Client) -> None:
    path = f"/kpis/categories/{quote(CATEGORY, safe='')}?from=2023-12-01&to=2024-03-31&limit=3"
    _, first = get(client, path)
    _, second = get(client, f"{path}&next_token={first['next_token']}")
    assert [i["order_date"] for i in first["items"] + second["items"]] == [
        "2023-12-31",
        "2024-01-01",
        "2024-01-03",
        "2024-02-01",
    ]
    assert (
        get(client, f"/kpis/categories/Jeans?from=2023-12-01&to=2024-03-31&next_token={first['next_token']}")[0] == 400
    )


def test_unknown_category_has_no_kpis_and_bad_names_are_400(client: Client) -> None:
    assert get(client, "/kpis/categories/Hats?from=2024-01-01&to=2024-01-31")[1]["items"] == []
    assert get(client, "/kpis/categories/%FF?from=2024-01-01&to=2024-01-31")[0] == 400
    assert get(client, f"/kpis/categories/{'x' * 600}?from=2024-01-01&to=2024-01-31")[0] == 400


def test_known_categories_come_from_the_registry_and_stay_out_of_ranges(client: Client) -> None:
    assert get(client, "/categories") == (200, {"items": ["Jeans", "Socks", CATEGORY]})
    # The registry partition sorts before every date: no range ever reaches it.
    _, body = get(client, "/kpis/categories/Socks?from=0001-01-01&to=0001-12-31")
    assert body["items"] == []


def test_cors_headers_on_answers_and_errors(client: Client) -> None:
    for path in ("/kpis/daily/2024-01-01", "/kpis/daily/2024-99-01", "/kpis/daily/2024-01-02"):
        assert client.http.get(path).headers["Access-Control-Allow-Origin"] == "*"
