"""Unit cases for the event-pattern matcher and the stream-record builder.

The AWS-recorded verdicts live in test_event_pattern_conformance.py; these pin down the
behaviour the pipes rely on (typed DynamoDB values, boundaries, Pipes-only rejections, limits)
and the documented rules the recorded cases do not reach.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.event_patterns import (
    MAX_PIPE_FILTERS,
    MAX_PIPE_PATTERN_CHARS,
    InvalidEventPattern,
    Mode,
    compile_pattern,
    matches,
    pattern_text,
)
from chalicelib.stream_records import (
    StreamEventName,
    StreamRecordFactory,
    StreamViewType,
    build_stream_record,
    event_name_for_write,
    stream_arn,
)

ARN = stream_arn("Orders", "eu-west-1", "123456789012", "2026-01-01T00:00:00.000")


def reason(pattern, mode: Mode = Mode.EVENT_BUS) -> str:
    with pytest.raises(InvalidEventPattern) as raised:
        compile_pattern(pattern, mode)
    assert raised.value.message == "Event pattern is not valid. Reason: " + raised.value.reason
    return raised.value.reason


# --- public API -----------------------------------------------------------------------------


def test_text_and_dict_patterns_agree_and_compile_once() -> None:
    as_dict = {"detail": {"state": ["on"]}}
    compiled = compile_pattern(json.dumps(as_dict))
    assert compiled.matches({"detail": {"state": "on"}})
    assert compile_pattern(as_dict).matches('{"detail": {"state": "on"}}')
    assert not matches(as_dict, {"detail": {"state": "off"}})
    assert compile_pattern(as_dict, Mode.PIPES).text == pattern_text(as_dict) == '{"detail":{"state":["on"]}}'


def test_pipe_limits_are_exposed() -> None:
    assert (MAX_PIPE_FILTERS, MAX_PIPE_PATTERN_CHARS) == (5, 4096)
    assert {mode.name for mode in Mode} == {"EVENT_BUS", "PIPES"}


def test_event_must_be_a_json_object() -> None:
    compiled = compile_pattern({"a": ["b"]})
    with pytest.raises(ValueError, match="JSON object"):
        compiled.matches("[1, 2]")
    with pytest.raises(ValueError, match="not valid JSON"):
        compiled.matches("{nope")


# --- structure: duplicate keys, $or, arrays ------------------------------------------------


def test_repeated_key_in_text_ands_different_paths() -> None:
    text = '{"detail": {"a": ["x"]}, "detail": {"b": ["y"]}}'
    assert matches(text, {"detail": {"a": "x", "b": "y"}})
    assert not matches(text, {"detail": {"a": "x", "b": "other"}})
    assert not matches(text, {"detail": {"b": "y"}})


def test_repeated_leaf_path_keeps_the_last_value_list() -> None:
    text = '{"a": ["first"], "a": ["second"]}'
    assert matches(text, {"a": "second"})
    assert not matches(text, {"a": "first"})


def test_or_branches_share_the_surrounding_fields() -> None:
    pattern = {"source": ["shop"], "detail": {"$or": [{"a": ["1"]}, {"b": {"c": ["2"]}}]}}
    assert matches(pattern, {"source": "shop", "detail": {"b": {"c": "2"}}})
    assert matches(pattern, {"source": "shop", "detail": {"a": "1"}})
    assert not matches(pattern, {"source": "other", "detail": {"a": "1"}})
    assert not matches(pattern, {"source": "shop", "detail": {"a": "2"}})


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ({"$or": [{"a": ["1"]}]}, "There must have at least 2 Objects in $or relationship."),
        ({"$or": {"a": ["1"]}}, "It must be an Array followed with $or."),
        ({"$or": [{"a": ["1"]}, ["b"]]}, "Only JSON object is allowed in array of $or relationship."),
        (
            {"$or": [{"a": ["1"]}, {"numeric": ["2"]}]},
            "numeric is Ruler reserved fieldName which cannot be used inside $or.",
        ),
    ],
)
def test_invalid_or(pattern, expected: str) -> None:
    assert reason(pattern) == expected


def test_or_expansion_is_bounded() -> None:
    pairs = ", ".join(f'"$or": [{{"a{i}": ["x"]}}, {{"b{i}": ["y"]}}]' for i in range(14))
    assert "more than 10000 alternatives" in reason("{" + pairs + "}")
    assert len(compile_pattern("{" + pairs.split(', "$or"')[0] + "}").rules) == 2


def test_any_array_element_matches() -> None:
    pattern = {"tags": ["vip"]}
    assert matches(pattern, {"tags": ["new", "vip"]})
    assert not matches(pattern, {"tags": []})
    assert matches({"tags": [{"anything-but": "vip"}]}, {"tags": ["vip", "new"]})  # "new" is not vip


def test_fields_of_one_rule_come_from_the_same_array_element() -> None:
    event = {"items": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 2}]}
    assert not matches({"items": {"sku": ["a"], "qty": [2]}}, event)
    assert matches({"items": {"sku": ["b"], "qty": [2]}}, event)


def test_dotted_names_and_nesting_are_the_same_path() -> None:
    assert matches({"a.b": ["c"]}, {"a": {"b": "c"}})
    assert matches({"a": {"b": ["c"]}}, {"a.b": "c"})


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ({}, "Empty objects are not allowed"),
        ({"a": {}}, "Empty objects are not allowed"),
        ({"a": []}, "Empty arrays are not allowed"),
        ({"a": "b"}, '"a" must be an object or an array'),
        ({"a": [["b"]]}, "Match value must be String, number, true, false, or null"),
        ({"a": [{}]}, "Match expression name not found"),
        ({"a": [{"prefix": "x", "suffix": "y"}]}, "Only one key allowed in match expression"),
        ({"a": [{"exactly": "x"}]}, "Unrecognized match type exactly"),
        ({"a": [{"exists": "yes"}]}, "exists match pattern must be either true or false."),
        ("[1]", "Filter is not an object"),
    ],
)
def test_invalid_structure(pattern, expected: str) -> None:
    assert reason(pattern) == expected


def test_text_that_is_not_json_is_invalid() -> None:
    assert reason('{"a": [1,]}').startswith("Filter is not valid JSON")


# --- values ----------------------------------------------------------------------------------


def test_null_empty_and_boolean_values_match_only_themselves() -> None:
    assert matches({"a": [None]}, {"a": None})
    assert not matches({"a": [None]}, {})
    assert not matches({"a": [None]}, {"a": "null"})
    assert matches({"a": [""]}, {"a": ""})
    assert not matches({"a": [""]}, {"a": None})
    assert matches({"a": [True]}, {"a": True})
    assert not matches({"a": [True]}, {"a": "true"})


def test_exists_looks_at_leaf_values() -> None:
    assert matches({"a": [{"exists": True}]}, {"a": None})
    assert not matches({"a": [{"exists": True}]}, {"a": {"S": "x"}})
    assert matches({"a": [{"exists": False}]}, {"a": {"S": "x"}})
    assert not matches({"a": {"S": [{"exists": False}]}}, {"a": {"S": "x"}})
    assert matches({"a": [{"exists": False}]}, {"a": []})


def test_string_operators_only_match_strings() -> None:
    assert matches({"a": [{"prefix": ""}]}, {"a": "anything"})
    assert not matches({"a": [{"prefix": "1"}]}, {"a": 12})
    assert not matches({"a": [{"suffix": "2"}]}, {"a": 12})
    assert not matches({"a": [{"equals-ignore-case": "true"}]}, {"a": True})


def test_case_insensitive_operators() -> None:
    assert matches({"a": [{"equals-ignore-case": "ÉTÉ"}]}, {"a": "été"})
    assert not matches({"a": [{"equals-ignore-case": "abc"}]}, {"a": "abcd"})
    assert matches({"a": [{"prefix": {"equals-ignore-case": "EventB"}}]}, {"a": "eVeNtBridge"})
    assert matches({"a": [{"suffix": {"equals-ignore-case": "TEST.COM"}}]}, {"a": "me@Test.com"})
    assert not matches({"a": [{"suffix": {"equals-ignore-case": "test.com"}}]}, {"a": "test.com.au"})


def test_anything_but_matches_every_other_present_value() -> None:
    pattern = {"a": [{"anything-but": ["x", "y"]}]}
    for value in ("z", None, 5, True):
        assert matches(pattern, {"a": value})
    assert not matches(pattern, {"a": "x"})
    assert not matches(pattern, {})
    assert not matches({"a": [{"anything-but": [100]}]}, {"a": 1e2})
    assert matches({"a": [{"anything-but": [100]}]}, {"a": "100"})


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (
            {"a": [{"anything-but": ["x", 1]}]},
            "Inside anything but list, either all values are number or string, mixed type is not supported",
        ),
        (
            {"a": [{"anything-but": []}]},
            "Inside anything but list, either all values are number or string, mixed type is not supported",
        ),
        ({"a": [{"anything-but": {"exists": True}}]}, "Unsupported anything-but pattern: exists"),
        ({"a": [{"anything-but": {"prefix": "x"}, "suffix": "y"}]}, "Too many elements in numeric expression"),
        ({"a": [{"anything-but": [6e9]}]}, "Value must be between -5.0E9 and 5.0E9, inclusive"),
    ],
)
def test_invalid_anything_but(pattern, expected: str) -> None:
    assert reason(pattern) == expected


# --- numbers ---------------------------------------------------------------------------------


def test_numeric_matches_json_numbers_only() -> None:
    pattern = {"amount": [{"numeric": [">", 100]}]}
    assert matches(pattern, {"amount": 100.01})
    assert not matches(pattern, {"amount": 100})
    assert not matches(pattern, {"amount": "500"})
    assert not matches(pattern, {"amount": None})


def test_numeric_never_matches_dynamodb_typed_numbers() -> None:
    record = {"dynamodb": {"NewImage": {"amount": {"N": "500"}}, "ApproximateCreationDateTime": 1700000000}}
    assert not matches({"dynamodb": {"NewImage": {"amount": {"N": [{"numeric": [">", 100]}]}}}}, record)
    assert matches({"dynamodb": {"NewImage": {"amount": {"N": ["500"]}}}}, record)
    assert matches({"dynamodb": {"ApproximateCreationDateTime": [{"numeric": [">", 0]}]}}, record)


def test_numeric_ranges_and_equality() -> None:
    between = {"n": [{"numeric": [">=", 10, "<", 20]}]}
    assert [matches(between, {"n": n}) for n in (9.999999, 10, 19.999999, 20)] == [False, True, True, False]
    assert matches({"n": [{"numeric": ["=", 3.018e2]}]}, {"n": 301.8})
    assert matches({"n": [300]}, '{"n": 3e2}')
    assert matches({"n": [-5e9]}, {"n": -5000000000})
    # Beyond AWS's comparable range a number only matches its own literal.
    assert matches({"account": [123456789012]}, '{"account": 123456789012}')
    assert not matches({"account": [123456789012]}, '{"account": 123456789012.0}')


@pytest.mark.parametrize(
    ("terms", "expected"),
    [
        ([">", 5e9 + 1], "Value must be between -5.0E9 and 5.0E9, inclusive"),
        (["<", -6e9], "Value must be between -5.0E9 and 5.0E9, inclusive"),
        ([">", 10, "<", 10], "Bottom must be less than top"),
        (["=", 1, "<", 2], "Too many elements in numeric expression"),
        ([">", 1, "<", 2, "<", 3], "Too many terms in numeric range expression"),
        (["!=", 1], "Unrecognized numeric range operator: !="),
        (["=", "1"], "Value of equals must be numeric"),
        ([], "Invalid member in numeric match: ]"),
        ([1, ">"], "Invalid member in numeric match: 1"),
        ([">", 1, 2], "Bad value in numeric range: 2"),
    ],
)
def test_invalid_numeric(terms, expected: str) -> None:
    assert reason({"n": [{"numeric": terms}]}) == expected


# --- wildcard and cidr ---------------------------------------------------------------------------


def test_wildcard_matching_and_escapes() -> None:
    assert matches({"f": [{"wildcard": "*.png"}]}, {"f": ".png"})
    assert matches({"f": [{"wildcard": "a\\*b"}]}, {"f": "a*b"})
    assert not matches({"f": [{"wildcard": "a\\*b"}]}, {"f": "axb"})
    assert matches({"f": [{"wildcard": "a\\\\b"}]}, {"f": "a\\b"})
    assert not matches({"f": [{"wildcard": "*"}]}, {"f": 1})


@pytest.mark.parametrize(
    ("operand", "expected"),
    [
        ("a\\b", "Invalid escape character at pos 2"),
        ("ab\\", "Invalid escape character at pos 3"),
        ("x**", "Consecutive wildcard characters at pos 2"),
        (
            "*a*a*a*a*",
            "Rule is too complex - try using fewer wildcard characters or fewer repeating "
            "character sequences after a wildcard character",
        ),
    ],
)
def test_invalid_wildcard(operand: str, expected: str) -> None:
    assert reason({"f": [{"wildcard": operand}]}) == expected


def test_cidr_and_ip_strings() -> None:
    assert matches({"ip": [{"cidr": "10.0.0.0/8"}]}, {"ip": "10.255.0.1"})
    assert not matches({"ip": [{"cidr": "10.0.0.0/8"}]}, {"ip": "11.0.0.1"})
    assert matches({"ip": [{"cidr": "2001:db8::/32"}]}, {"ip": "2001:0DB8:ffff::1"})
    assert not matches({"ip": [{"cidr": "2001:db8::/32"}]}, {"ip": "10.0.0.1"})
    # An exact string that is an IP matches the same address however it is written.
    assert matches({"ip": ["2001:db8::1"]}, {"ip": "2001:0db8:0:0:0:0:0:1"})


@pytest.mark.parametrize(
    ("operand", "expected"),
    [
        ("10.0.0.0/32", "IPv4 mask bits must be < 32"),
        ("::/128", "IPv6 mask bits must be < 128"),
        ("10.0.0.0/-1", "Malformed CIDR, mask bits must not be negative"),
        ("999.0.0.0/8", "Invalid IP address: 999.0.0.0"),
        ("10.0.0.0", "Malformed CIDR, one '/' required"),
    ],
)
def test_invalid_cidr(operand: str, expected: str) -> None:
    assert reason({"ip": [{"cidr": operand}]}) == expected


# --- Pipes mode --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "operand",
    [
        {"anything-but": {"prefix": "x"}},
        {"anything-but": {"suffix": "x"}},
        {"anything-but": {"wildcard": "*x*"}},
        {"anything-but": {"equals-ignore-case": "x"}},
        {"wildcard": "*x*"},
    ],
)
def test_pipes_reject_what_event_buses_accept(operand) -> None:
    pattern = {"a": [operand]}
    compile_pattern(pattern)
    assert "not supported in EventBridge Pipes filters" in reason(pattern, Mode.PIPES)


@pytest.mark.parametrize(
    "operand",
    [
        {"anything-but": ["x"]},
        {"anything-but": 5},
        {"prefix": {"equals-ignore-case": "x"}},
        {"suffix": {"equals-ignore-case": "x"}},
        {"equals-ignore-case": "x"},
        {"numeric": [">", 1]},
        {"exists": False},
        {"cidr": "10.0.0.0/8"},
    ],
)
def test_pipes_accept_shared_operators(operand) -> None:
    assert compile_pattern({"a": [operand], "$or": [{"b": ["1"]}, {"c": ["2"]}]}, Mode.PIPES).rules


def test_pipes_pattern_length_limit() -> None:
    def sized(length: int) -> str:
        text = '{"a":[""]}'
        return text.replace('""', '"' + "x" * (length - len(text)) + '"')

    assert len(compile_pattern(sized(MAX_PIPE_PATTERN_CHARS), Mode.PIPES).text) == MAX_PIPE_PATTERN_CHARS
    assert "at most 4096 characters" in reason(sized(MAX_PIPE_PATTERN_CHARS + 1), Mode.PIPES)
    compile_pattern(sized(MAX_PIPE_PATTERN_CHARS + 1))  # event buses have no such limit here


# --- stream records ------------------------------------------------------------------------------


def test_stream_record_wire_format() -> None:
    image = {"orderId": {"S": "o-1"}, "amount": {"N": "500"}}
    record = build_stream_record(
        event_name=StreamEventName.INSERT,
        keys={"orderId": image["orderId"]},
        old_image=None,
        new_image=image,
        sequence_number="111",
        approximate_creation_time=1_700_000_000.9,
        stream_arn=ARN,
    )
    assert record == {
        "eventID": record["eventID"],
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "eu-west-1",
        "dynamodb": {
            "ApproximateCreationDateTime": 1_700_000_000,
            "Keys": {"orderId": {"S": "o-1"}},
            "NewImage": image,
            "SequenceNumber": "111",
            "SizeBytes": (7 + 3) + (7 + 3) + (6 + 2),
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
        "eventSourceARN": ARN,
    }
    assert len(record["eventID"]) == 32
    assert json.loads(json.dumps(record)) == record


def test_factory_derives_event_names_and_orders_records() -> None:
    factory = StreamRecordFactory(stream_arn=ARN, key_attributes=("orderId",), clock=lambda: 5.0)
    v1 = {"orderId": {"S": "o-1"}, "status": {"S": "pending"}}
    v2 = {"orderId": {"S": "o-1"}, "status": {"S": "shipped"}}
    insert, modify, remove = factory.record(None, v1), factory.record(v1, v2), factory.record(v2, None)
    assert [r["eventName"] for r in (insert, modify, remove)] == ["INSERT", "MODIFY", "REMOVE"]
    assert "OldImage" not in insert["dynamodb"] and modify["dynamodb"]["OldImage"] == v1
    assert "NewImage" not in remove["dynamodb"] and remove["dynamodb"]["Keys"] == {"orderId": {"S": "o-1"}}
    numbers = [int(r["dynamodb"]["SequenceNumber"]) for r in (insert, modify, remove)]
    assert numbers == sorted(numbers) and len({r["eventID"] for r in (insert, modify, remove)}) == 3
    assert factory.record(v2, dict(v2)) is None  # an unchanged item writes no stream record
    with pytest.raises(ValueError, match="orderId"):
        factory.record(None, {"status": {"S": "x"}})


def test_view_types_and_event_names() -> None:
    keys_only = StreamRecordFactory(stream_arn=ARN, key_attributes=("k",), view_type=StreamViewType.KEYS_ONLY)
    record = keys_only.record({"k": {"S": "1"}, "v": {"S": "a"}}, {"k": {"S": "1"}, "v": {"S": "b"}})
    assert set(record["dynamodb"]) == {
        "ApproximateCreationDateTime",
        "Keys",
        "SequenceNumber",
        "SizeBytes",
        "StreamViewType",
    }
    assert event_name_for_write(None, None) is None


def test_typed_stream_filters_match_records() -> None:
    factory = StreamRecordFactory(stream_arn=ARN, key_attributes=("orderId",))
    record = factory.record(None, {"orderId": {"S": "o-1"}, "status": {"S": "pending"}})
    typed = {"dynamodb": {"NewImage": {"status": {"S": ["pending"]}}}}
    untyped = {"dynamodb": {"NewImage": {"status": ["pending"]}}}
    assert compile_pattern(typed, Mode.PIPES).matches(json.dumps(record))
    assert not compile_pattern(untyped, Mode.PIPES).matches(record)


# --- robustness: any JSON pattern is either valid or refused with AWS's exception --------------

_OPERATOR_NAMES = st.sampled_from(
    [
        "prefix",
        "suffix",
        "equals-ignore-case",
        "anything-but",
        "numeric",
        "exists",
        "cidr",
        "wildcard",
        "$or",
        "a",
        "b",
        "S",
        "=",
        "<",
        ">=",
    ]
)
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["", "a", "*a*", "10.0.0.0/8", "::1", "a\\*", ">", "<=", "="]),
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_OPERATOR_NAMES, inner, max_size=3)),
    max_leaves=12,
)


@settings(max_examples=100, derandomize=True, deadline=None)
@given(pattern=st.dictionaries(_OPERATOR_NAMES, _JSON, max_size=3), event=st.dictionaries(_OPERATOR_NAMES, _JSON))
def test_arbitrary_patterns_are_valid_or_refused_and_matching_is_total(pattern, event) -> None:
    for mode in Mode:
        try:
            compiled = compile_pattern(pattern, mode)
        except InvalidEventPattern:
            continue
        verdict = compiled.matches(event)
        assert verdict in (True, False)
        assert compile_pattern(compiled.text, mode).matches(json.dumps(event)) == verdict
        # Reading only the paths the pattern names must not change the verdict.
        assert dataclasses.replace(compiled, wanted_paths=None).matches(event) == verdict
