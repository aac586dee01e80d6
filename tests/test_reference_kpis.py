"""The reference KPI computation checked against small cases worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.reference_kpis import (
    ITEMS,
    ORDERS,
    PRODUCTS,
    InvalidRow,
    LandedFile,
    compute_components,
    compute_kpis,
    parse_csv,
    row_sort_key,
    validate_row,
)

NOW = datetime(2025, 6, 1, tzinfo=UTC)


def order(order_id, user, created, status="complete", returned=None, shipped=None, delivered=None):
    return {
        "order_id": str(order_id),
        "user_id": str(user),
        "status": status,
        "created_at": created,
        "returned_at": returned or "",
        "shipped_at": shipped or "",
        "delivered_at": delivered or "",
        "num_of_item": "",
    }


def item(
    item_id, order_id, product, price, created="2025-03-01T00:00:00Z", status="complete", returned=None, shipped=None
):
    return {
        "id": str(item_id),
        "order_id": str(order_id),
        "user_id": "",
        "product_id": str(product),
        "status": status,
        "created_at": created,
        "shipped_at": shipped or "",
        "delivered_at": "",
        "returned_at": returned or "",
        "sale_price": price,
    }


def product(product_id, category):
    return {
        "id": str(product_id),
        "sku": "",
        "cost": "",
        "category": category,
        "name": "",
        "brand": "",
        "retail_price": "",
        "department": "",
    }


CATALOGUE = LandedFile(PRODUCTS, [product(1, "Jeans"), product(2, "Tops & Tees")], 0)


def kpis(*files):
    return compute_kpis([CATALOGUE, *(LandedFile(kind, rows, n) for n, (kind, rows) in enumerate(files, 1))], NOW)


def test_two_days_by_hand():
    result = kpis(
        (
            ORDERS,
            [
                order(10, 1, "2025-03-01T08:00:00Z"),
                order(11, 1, "2025-03-01 21:00:00"),
                order(12, 2, "2025-03-02T09:00:00Z", status="Returned", returned="2025-03-03T09:00:00Z"),
            ],
        ),
        (
            ITEMS,
            [
                item(100, 10, 1, "10.00"),
                item(101, 10, 2, "5.50"),
                item(102, 11, 1, "20"),
                item(103, 12, 1, "7.25", status="returned", returned="2025-03-03T09:00:00Z"),
            ],
        ),
    )
    assert result["orders"] == [
        {
            "order_date": "2025-03-01",
            "total_orders": 2,
            "total_revenue": 35.5,
            "total_items_sold": 3,
            "return_rate": 0.0,
            "unique_customers": 1,
        },
        {
            "order_date": "2025-03-02",
            "total_orders": 1,
            "total_revenue": 7.25,
            "total_items_sold": 1,
            "return_rate": 1.0,
            "unique_customers": 1,
        },
    ]
    assert result["categories"] == [
        {
            "category": "Jeans",
            "order_date": "2025-03-01",
            "daily_revenue": 30.0,
            "avg_order_value": 15.0,
            "avg_return_rate": 0.0,
        },
        {
            "category": "Tops & Tees",
            "order_date": "2025-03-01",
            "daily_revenue": 5.5,
            "avg_order_value": 5.5,
            "avg_return_rate": 0.0,
        },
        {
            "category": "Jeans",
            "order_date": "2025-03-02",
            "daily_revenue": 7.25,
            "avg_order_value": 7.25,
            "avg_return_rate": 1.0,
        },
    ]


def test_components_are_exact_and_named_like_the_tables():
    components = compute_components(
        [
            CATALOGUE,
            LandedFile(ORDERS, [order(10, 1, "2025-03-01T08:00:00Z"), order(11, 2, "2025-03-01T09:00:00Z")], 1),
            LandedFile(ITEMS, [item(100, 10, 1, "0.1"), item(101, 10, 1, "0.2"), item(102, 11, 2, "0.0000015")], 2),
        ],
        NOW,
    )
    assert components.daily == {
        "2025-03-01": {
            "total_orders": 2,
            "revenue_micros": 300_002,
            "total_items_sold": 3,
            "returned_orders": 0,
            "unique_customers": 2,
        }
    }
    assert components.categories == {
        ("Jeans", "2025-03-01"): {"orders": 1, "revenue_micros": 300_000, "items_sold": 2, "returned_orders": 0},
        ("Tops & Tees", "2025-03-01"): {"orders": 1, "revenue_micros": 2, "items_sold": 1, "returned_orders": 0},
    }


def test_an_item_counts_on_its_orders_utc_day_whatever_its_own_timestamp():
    # 01:30 at +02:00 is 23:30 UTC the day before; the item is stamped after midnight.
    result = kpis(
        (ORDERS, [order(10, 1, "2025-03-02T01:30:00+02:00")]),
        (ITEMS, [item(100, 10, 1, "12.00", created="2025-03-02T00:00:40Z")]),
    )
    assert [(r["order_date"], r["total_revenue"]) for r in result["orders"]] == [("2025-03-01", 12.0)]


def test_an_order_without_items_still_counts():
    result = kpis(
        (ORDERS, [order(10, 1, "2025-03-01T08:00:00Z"), order(11, 2, "2025-03-01T09:00:00Z")]),
        (ITEMS, [item(100, 10, 1, "4.00")]),
    )
    assert result["orders"][0] == {
        "order_date": "2025-03-01",
        "total_orders": 2,
        "total_revenue": 4.0,
        "total_items_sold": 1,
        "return_rate": 0.0,
        "unique_customers": 2,
    }
    assert [c["avg_order_value"] for c in result["categories"]] == [4.0]


def test_latest_lifecycle_wins_whatever_the_arrival_order():
    first = (ORDERS, [order(10, 1, "2025-03-01T08:00:00Z", status="processing")])
    shipped = (ORDERS, [order(10, 1, "2025-03-01T08:00:00Z", status="shipped", shipped="2025-03-02T08:00:00Z")])
    returned = (
        ORDERS,
        [
            order(
                10,
                1,
                "2025-03-01T08:00:00Z",
                status="complete",
                shipped="2025-03-02T08:00:00Z",
                returned="2025-03-05T08:00:00Z",
            )
        ],
    )
    items = (ITEMS, [item(100, 10, 1, "9.99")])
    expected = kpis(first, shipped, returned, items)
    assert expected["orders"][0]["return_rate"] == 1.0  # returned_at set, status not returned
    assert kpis(returned, items, shipped, first) == expected
    assert kpis(items, shipped, returned, first, returned) == expected  # duplicates change nothing


def test_the_latest_item_version_decides_its_order():
    result = kpis(
        (ORDERS, [order(10, 1, "2025-03-01T08:00:00Z"), order(11, 1, "2025-03-02T08:00:00Z")]),
        (ITEMS, [item(100, 11, 1, "5.00", created="2025-03-02T00:00:00Z")]),
        (ITEMS, [item(100, 10, 1, "5.00")]),
    )
    assert [(r["order_date"], r["total_items_sold"]) for r in result["orders"]] == [
        ("2025-03-01", 0),
        ("2025-03-02", 1),
    ]


def test_tie_rule_a_greatest_normalised_row_wins_textually():
    # Same lifecycle, prices 19.99 and 9.99: "9990000" > "19990000" as text, so 9.99 wins.
    orders = (ORDERS, [order(10, 1, "2025-03-01T08:00:00Z")])
    a = (ITEMS, [item(100, 10, 1, "19.99")])
    b = (ITEMS, [item(100, 10, 1, "9.990")])
    assert kpis(orders, a, b)["orders"][0]["total_revenue"] == 9.99
    assert kpis(orders, b, a)["orders"][0]["total_revenue"] == 9.99


def test_tie_rule_a_equal_instants_spelled_differently_are_the_same_version():
    rows = [
        order(10, 1, "2025-03-01T08:00:00Z", status="Shipped"),
        order(10, 1, "2025-03-01 10:00:00+02:00", status="SHIPPED"),
    ]
    keys = {row_sort_key(ORDERS, validate_row(ORDERS, r, NOW)) for r in rows}
    assert keys == {("10", "1", "shipped", "2025-03-01T08:00:00.000000Z", "", "", "", "")}


def test_row_sort_key_normal_forms():
    row = validate_row(ITEMS, {**item(7, 10, 3, "12.5", shipped="2025-03-02T01:00:00.25-01:00"), "id": "+007"}, NOW)
    assert row_sort_key(ITEMS, row) == (
        "7",
        "10",
        "",
        "3",
        "complete",
        "2025-03-01T00:00:00.000000Z",
        "2025-03-02T02:00:00.250000Z",
        "",
        "",
        "12500000",
    )


def test_tie_rule_b_products_last_landed_file_then_last_row():
    orders = (ORDERS, [order(10, 1, "2025-03-01T08:00:00Z")])
    items = (ITEMS, [item(100, 10, 1, "10.00")])
    moved = (PRODUCTS, [product(1, "Socks"), product(1, "Socks & Hosiery")])
    result = kpis(orders, items, moved)
    assert [c["category"] for c in result["categories"]] == ["Socks & Hosiery"]
    # The catalogue landing after the move wins back.
    files = [
        LandedFile(PRODUCTS, moved[1], 0),
        LandedFile(ORDERS, orders[1], 1),
        LandedFile(ITEMS, items[1], 2),
        LandedFile(PRODUCTS, CATALOGUE.rows, 3),
    ]
    assert [c["category"] for c in compute_kpis(files, NOW)["categories"]] == ["Jeans"]


def test_items_missing_their_order_or_product_are_held():
    components = compute_components(
        [
            CATALOGUE,
            LandedFile(ORDERS, [order(10, 1, "2025-03-01T08:00:00Z")], 1),
            LandedFile(ITEMS, [item(100, 10, 1, "1.00"), item(101, 99, 1, "2.00"), item(102, 10, 42, "3.00")], 2),
        ],
        NOW,
    )
    assert components.held_items == [101, 102]
    assert components.daily["2025-03-01"]["revenue_micros"] == 1_000_000


def test_category_returns_count_orders_with_a_returned_item_of_that_category():
    # Order 10 is returned in part: one Jeans item back; the order itself is not returned.
    result = kpis(
        (
            ORDERS,
            [
                order(10, 1, "2025-03-01T08:00:00Z"),
                order(11, 2, "2025-03-01T09:00:00Z"),
                order(12, 3, "2025-03-01T10:00:00Z"),
            ],
        ),
        (
            ITEMS,
            [
                item(100, 10, 1, "10.00", returned="2025-03-04T00:00:00Z"),
                item(101, 10, 2, "10.00"),
                item(102, 11, 1, "10.00"),
                item(103, 12, 1, "10.00", status="RETURNED"),
            ],
        ),
    )
    assert result["orders"][0]["return_rate"] == 0.0
    jeans, tops = result["categories"]
    assert (jeans["category"], jeans["avg_return_rate"], jeans["avg_order_value"]) == ("Jeans", 0.6667, 10.0)
    assert (tops["category"], tops["avg_return_rate"]) == ("Tops & Tees", 0.0)


def test_rounding_money_half_up_rates_half_up_micros_half_even():
    result = kpis(
        (
            ORDERS,
            [
                order(10, 1, "2025-03-01T08:00:00Z"),
                order(11, 2, "2025-03-01T08:00:00Z"),
                order(12, 3, "2025-03-01T08:00:00Z", returned="2025-03-02T08:00:00Z"),
            ],
        ),
        # 0.0000005 -> 0 micros, 0.0000015 -> 2 micros (half-even); 0.005 + 0.0000025 -> 5002 micros
        (
            ITEMS,
            [
                item(100, 10, 1, "0.0000005"),
                item(101, 11, 1, "0.0000015"),
                item(102, 12, 1, "0.005"),
                item(103, 12, 1, "0.0000025"),
            ],
        ),
    )
    day = result["orders"][0]
    assert day["total_revenue"] == 0.01  # 0.005004 rounds up
    assert day["return_rate"] == 0.3333
    assert result["categories"][0]["avg_order_value"] == 0.0  # 0.005004 / 3 = 0.001668


def test_average_order_value_rounds_half_up():
    result = kpis(
        (ORDERS, [order(10, 1, "2025-03-01T08:00:00Z"), order(11, 2, "2025-03-01T08:00:00Z")]),
        (ITEMS, [item(100, 10, 1, "0.01")]),
        (ITEMS, [item(101, 11, 1, "0.00")]),
    )
    assert result["categories"][0]["avg_order_value"] == 0.01  # 0.005 exactly


@pytest.mark.parametrize(
    ("kind", "change", "reason"),
    [
        (ORDERS, {"order_id": "12A"}, "not_integer:order_id"),
        (ORDERS, {"user_id": ""}, "missing:user_id"),
        (ORDERS, {"status": "lost"}, "bad_status"),
        (ORDERS, {"created_at": ""}, "missing:created_at"),
        (ORDERS, {"created_at": "2025-02-30T10:00:00Z"}, "bad_timestamp:created_at"),
        (ORDERS, {"created_at": "2025-03-01T26:00:00Z"}, "bad_timestamp:created_at"),
        (ORDERS, {"created_at": "2025-07-01T00:00:00Z"}, "future:created_at"),
        (ORDERS, {"returned_at": "2025-02-28T00:00:00Z"}, "before_created:returned_at"),
        (
            ORDERS,
            {"shipped_at": "2025-03-03T00:00:00Z", "delivered_at": "2025-03-02T00:00:00Z"},
            "delivered_before_shipped",
        ),
        (ORDERS, {"num_of_item": "0"}, "num_of_item_below_1"),
        (ITEMS, {"sale_price": "-1.00"}, "negative:sale_price"),
        (ITEMS, {"sale_price": "$1.00"}, "not_number:sale_price"),
        (ITEMS, {"sale_price": "nan"}, "not_number:sale_price"),
        (ITEMS, {"sale_price": ""}, "missing:sale_price"),
        (ITEMS, {"product_id": "-3"}, "not_integer:product_id"),
        (PRODUCTS, {"category": "  "}, "missing:category"),
        (PRODUCTS, {"cost": "-0.5"}, "negative:cost"),
    ],
)
def test_validation_rules(kind, change, reason):
    base = {
        ORDERS: order(10, 1, "2025-03-01T08:00:00Z"),
        ITEMS: item(100, 10, 1, "1.00"),
        PRODUCTS: product(1, "Jeans"),
    }[kind]
    validate_row(kind, base, NOW)
    with pytest.raises(InvalidRow) as raised:
        validate_row(kind, {**base, **change}, NOW)
    assert raised.value.reason == reason


def test_parse_csv_contract():
    data = (
        "\ufeffdistribution_center_id,id,sku,cost,category,name,brand,retail_price,department\r\n"
        '3,1,S1,1.5,"Shirts, Polos & Henleys","Tee, 9"" long",B,3,Men\r\n'
        "\r\n"
        "4,2,S2,1,Jeans,Slim,B,3,Women\r\n"
    ).encode()
    parsed = parse_csv("p.csv", data, now=NOW)
    assert (parsed.kind, parsed.invalid, parsed.rejected) == (PRODUCTS, [], None)
    assert [r["category"] for r in parsed.valid] == ["Shirts, Polos & Henleys", "Jeans"]
    assert parsed.valid[0]["name"] == 'Tee, 9" long'
    assert "distribution_center_id" not in parsed.valid[0]


def test_parse_csv_rejects_an_unknown_header_and_too_many_invalid_rows():
    assert parse_csv("u.csv", b"id,first_name,email\n1,a,b\n", now=NOW).rejected == "unknown_header"
    header = "order_id,user_id,status,created_at,returned_at,shipped_at,delivered_at,num_of_item\n"
    good = "".join(f"{n},1,pending,2025-03-01T00:00:00Z,,,,1\n" for n in range(19))
    at_threshold = parse_csv("o.csv", (header + good + "x,1,pending,2025-03-01,,,,1\n").encode(), now=NOW)
    assert (len(at_threshold.invalid), at_threshold.rejected) == (1, None)  # 1 of 20 is 5 %: not more
    over = parse_csv("o.csv", (header + good + "1,2\n" + "x,1,pending,2025-03-01,,,,1\n").encode(), now=NOW)
    assert over.invalid == [(20, "wrong_field_count"), (21, "not_integer:order_id")]
    assert over.rejected == "too_many_invalid_rows"
