"""Request parsing and page tokens: every client input is either understood or a BadRequest."""

from __future__ import annotations

import base64
import json
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.api.exceptions import BadRequest
from chalicelib.api.pagination import bounded, decode_token, encode_token
from chalicelib.api.params import DateRange, parse_date, parse_page, parse_range, path_value

SHAPE = {
    "year": lambda y: y in {"2023", "2024"},
    "order_date": DateRange(date(2023, 12, 1), date(2024, 1, 31)).contains,
}


def forged(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def test_a_token_round_trips() -> None:
    key = {"year": "2024", "order_date": "2024-01-05"}
    assert decode_token(encode_token(key), SHAPE) == key
    assert encode_token(None) is None and decode_token(None, SHAPE) is None


@pytest.mark.parametrize(
    "token",
    [
        "",
        "a b",
        "====",
        forged(["year", "2024"]),
        forged({"year": "2024"}),
        forged({"year": "2024", "order_date": "2024-01-05", "extra": "x"}),
        forged({"year": 2024, "order_date": "2024-01-05"}),
        forged({"year": "2025", "order_date": "2024-01-05"}),
        forged({"year": "2024", "order_date": "2024-02-05"}),
        forged({"year": "2024", "order_date": "2024-1-5"}),
        base64.urlsafe_b64encode(b"[" * 1500).decode(),
        base64.urlsafe_b64encode(b'{"year": "\\ud800", "order_date": "2024-01-05"}').decode(),
        "x" * 3000,
    ],
)
def test_forged_tokens_are_bad_requests(token: str) -> None:
    with pytest.raises(BadRequest) as caught:
        decode_token(token, SHAPE)
    assert caught.value.parameter == "next_token"


@given(st.text(max_size=300))
def test_any_token_is_a_key_of_the_right_shape_or_a_bad_request(token: str) -> None:
    try:
        key = decode_token(token, SHAPE)
    except BadRequest:
        return
    assert key is not None and set(key) == set(SHAPE) and all(SHAPE[k](v) for k, v in key.items())


def test_bounded_values_fit_dynamodb_keys() -> None:
    check = bounded(4)
    assert check("abcd") and not check("") and not check("abcde") and not check("ééé") and not check("\ud800")


@given(st.text(max_size=40), st.text(max_size=40))
def test_any_range_parameters_are_a_range_or_a_bad_request(start: str, end: str) -> None:
    try:
        days = parse_range({"from": start, "to": end})
    except BadRequest as err:
        assert err.parameter in {"from", "to"}
        return
    assert days.start <= days.end and days.days <= 366


@pytest.mark.parametrize("raw", ["2024-02-29", "0001-01-01", "9999-12-31"])
def test_real_dates_parse(raw: str) -> None:
    assert parse_date(raw, "date").isoformat() == raw


@pytest.mark.parametrize(
    "raw", ["2023-02-29", "2024-1-01", "2024-01-01T00:00", " 2024-01-01", "２０２４-01-01", "20240101"]
)
def test_other_dates_do_not(raw: str) -> None:
    with pytest.raises(BadRequest):
        parse_date(raw, "date")


@pytest.mark.parametrize("raw", ["0", "-1", "1.5", "１", "51", "", " 3"])
def test_limits_outside_bounds_are_bad_requests(raw: str) -> None:
    with pytest.raises(BadRequest):
        parse_page({"limit": raw}, 10, 50)


def test_limit_default_and_token_pass_through() -> None:
    page = parse_page({"next_token": "abc"}, 10, 50)
    assert (page.limit, page.token) == (10, "abc")
    assert parse_page({"limit": "50"}, 10, 50).limit == 50


def test_path_values_are_decoded_once() -> None:
    assert path_value("Tops%20%26%20Tees%2C%20Men", "category") == "Tops & Tees, Men"
    assert path_value("100%2525", "category") == "100%25"
    for raw in ("%FF", "%ED%A0%80", "", "x" * 513):
        with pytest.raises(BadRequest):
            path_value(raw, "category")
