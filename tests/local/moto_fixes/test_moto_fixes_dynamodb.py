"""moto as released still needs the DynamoDB fixes (shoppulse/local/moto_fixes/dynamodb.py).

Each test runs moto's own code (`patching.upstream`) and asserts the shortcoming the fix makes
up for: when one fails, moto has caught up, and the fix it names can go.
"""

from __future__ import annotations

import contextlib
import copy
import threading
from collections.abc import Iterator
from typing import Any
from unittest import mock

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb.models import table as table_module
from moto.dynamodb.models.table import Table

from shoppulse.local.moto_fixes import dynamodb as dynamodb_fixes
from shoppulse.local.moto_fixes import fix_dynamodb_transaction_snapshots
from shoppulse.local.moto_fixes.patching import upstream

REGION = "us-east-1"

# An item of every attribute type (fixes 17 and 26 encode them without moto's serializer).
EVERY_TYPE = {
    "k": {"S": "a"},
    "blob": {"B": b"\x00\xff"},
    "n": {"N": "1.50"},
    "m": {"M": {"x": {"L": [{"BOOL": True}, {"NULL": True}, {"BS": [b"ab"]}, {"NS": ["1", "2"]}]}}},
    "ss": {"SS": ["é", "b"]},
}


def _counting_picked_values() -> Any:
    """A patch counting the attribute values moto's generic serializer picks one by one."""
    from moto.core.serialize import XFormedAttributePicker

    return mock.patch.object(
        XFormedAttributePicker, "__call__", autospec=True, side_effect=XFormedAttributePicker.__call__
    )


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        client.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        yield client


def test_fix_9_moto_pipes_deliver_nothing(dynamodb: Any) -> None:
    """Pipes only store configuration in moto: `shoppulse.local.pipes` runs them."""
    sqs = boto3.client("sqs", region_name=REGION)
    queue = sqs.create_queue(QueueName="target")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    stream_arn = dynamodb.describe_table(TableName="t")["Table"]["LatestStreamArn"]
    pipes = boto3.client("pipes", region_name=REGION)
    pipes.create_pipe(
        Name="p",
        RoleArn="arn:aws:iam::123456789012:role/pipe",
        Source=stream_arn,
        SourceParameters={"DynamoDBStreamParameters": {"StartingPosition": "TRIM_HORIZON", "BatchSize": 1}},
        Target=queue_arn,
    )
    dynamodb.put_item(TableName="t", Item={"k": {"S": "a"}})
    assert sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=0).get("Messages", []) == []


def test_fix_10_moto_transactions_copy_the_whole_table_once_per_item(dynamodb: Any) -> None:
    fix_dynamodb_transaction_snapshots()  # installed or not, upstream() below takes it away
    copied: list[Any] = []
    real_deepcopy = copy.deepcopy

    def spy(value: Any, memo: Any = None) -> Any:
        if isinstance(value, Table):
            copied.append(value)
        return real_deepcopy(value, memo)

    puts = [{"Put": {"TableName": "t", "Item": {"k": {"S": key}}}} for key in "abc"]
    with upstream(), mock.patch.object(copy, "deepcopy", spy):
        dynamodb.transact_write_items(TransactItems=puts)
    assert len(copied) == len(puts)
    copied.clear()
    more = [{"Put": {"TableName": "t", "Item": {"k": {"S": f"x{key}"}}}} for key in "abc"]
    with mock.patch.object(copy, "deepcopy", spy):  # the fix: no table copy at all
        dynamodb.transact_write_items(TransactItems=more)
    assert copied == []


def _pause_after_each_condition_check(barrier: threading.Barrier) -> Any:
    """moto's condition checks, each then waiting for the other writer's (as long as the barrier says)."""
    real = table_module.get_filter_expression

    def get_filter_expression(*args: Any, **kwargs: Any) -> Any:
        condition = real(*args, **kwargs)
        check = condition.expr

        def expr(item: Any) -> bool:
            passed = bool(check(item))
            with contextlib.suppress(threading.BrokenBarrierError):  # the other never came: writes are serialised
                barrier.wait()
            return passed

        condition.expr = expr
        return condition

    return mock.patch.object(table_module, "get_filter_expression", get_filter_expression)


def _race_to_create(dynamodb: Any, wait_seconds: float) -> list[str]:
    """Two writers put one new item, each only if it does not exist yet: what each was told."""
    told: list[str] = []

    def create(owner: str) -> None:
        try:
            dynamodb.put_item(
                TableName="t",
                Item={"k": {"S": "lease"}, "owner": {"S": owner}},
                ConditionExpression="attribute_not_exists(k)",
            )
            told.append("created")
        except ClientError as error:
            told.append(error.response["Error"]["Code"])

    with _pause_after_each_condition_check(threading.Barrier(2, timeout=wait_seconds)):
        writers = [threading.Thread(target=create, args=(owner,)) for owner in ("a", "b")]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join()
    return sorted(told)


def test_fix_15_moto_lets_two_writers_pass_one_condition(dynamodb: Any) -> None:
    fix_dynamodb_transaction_snapshots()  # installed or not, upstream() below takes it away
    with upstream():
        told = _race_to_create(dynamodb, wait_seconds=10)  # both arrive: no wait unless moto serialises
    # AWS checks and writes atomically: one writer creates the item, the other is refused.
    assert told == ["created", "created"]
    dynamodb.delete_item(TableName="t", Key={"k": {"S": "lease"}})
    assert _race_to_create(dynamodb, wait_seconds=0.5) == ["ConditionalCheckFailedException", "created"]  # the fix


def _get_records(dynamodb: Any, picked: Any) -> tuple[list[dict[str, Any]], int]:
    """Every record of table t's stream, as boto3 parses GetRecords, and how many values moto's
    generic serializer picked for that one GetRecords."""
    # fix 1: DynamoDB Streams at the endpoint moto serves
    streams = boto3.client("dynamodbstreams", region_name=REGION, config=Config(account_id_endpoint_mode="disabled"))
    stream_arn = dynamodb.describe_table(TableName="t")["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    with picked as picker:
        records: list[dict[str, Any]] = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    return records, picker.call_count


def test_fix_17_moto_serializes_stream_records_value_by_value(dynamodb: Any) -> None:
    """The records answered without moto's generic serializer are the ones it answers."""
    dynamodb_fixes.apply()  # installed or not, upstream() below takes it away
    dynamodb.put_item(TableName="t", Item=EVERY_TYPE)
    dynamodb.put_item(TableName="t", Item={"k": {"S": "a"}, "n": {"N": "2"}})  # a MODIFY: both images
    picked = _counting_picked_values()
    with upstream():
        released, picked_values = _get_records(dynamodb, picked)
    assert picked_values > 50  # every attribute value of every image, one by one
    fixed, picked_values = _get_records(dynamodb, picked)
    assert picked_values == 0
    assert fixed == released
    assert [r["eventName"] for r in fixed] == ["INSERT", "MODIFY"]
    assert fixed[1]["dynamodb"]["OldImage"]["blob"] == {"B": b"\x00\xff"}


def test_fix_18_moto_sizes_an_item_once_per_attribute_set(dynamodb: Any) -> None:
    """Quadratic in moto, linear with the fix; the 400 KB limit holds either way."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    dynamodb_fixes.size_items_once()
    item = {"k": {"S": "wide"}} | {f"a{i}": {"S": "x"} for i in range(40)}
    sized = mock.patch.object(DynamoType, "size", autospec=True, side_effect=DynamoType.size)
    with upstream(), sized as size:
        dynamodb.put_item(TableName="t", Item=item)
    assert size.call_count > 41 * 40 // 2
    with sized as size:
        dynamodb.put_item(TableName="t", Item=item)
    assert size.call_count < 41 * 3
    too_large = {"k": {"S": "big"}, "text": {"S": "x" * 410_000}}
    for moto_as in (upstream, contextlib.nullcontext):
        with moto_as(), pytest.raises(ClientError, match="Item size has exceeded the maximum allowed size"):
            dynamodb.put_item(TableName="t", Item=too_large)


def _item_reads(dynamodb: Any) -> list[dict[str, Any]]:
    """Query and Scan answers in each of their forms: every attribute type, pages, counts,
    projections, consumed capacity."""
    query = {"TableName": "t", "KeyConditionExpression": "k = :k", "ExpressionAttributeValues": {":k": {"S": "a"}}}
    answers = [
        dynamodb.scan(TableName="t"),
        dynamodb.scan(TableName="t", Limit=1),
        dynamodb.scan(TableName="t", Select="COUNT", ReturnConsumedCapacity="TOTAL"),
        dynamodb.scan(TableName="t", ProjectionExpression="m.x, ss", ReturnConsumedCapacity="INDEXES"),
        dynamodb.query(**query),
        dynamodb.query(**query, ProjectionExpression="#b", ExpressionAttributeNames={"#b": "blob"}),
        dynamodb.query(**{**query, "ExpressionAttributeValues": {":k": {"S": "none"}}}),
    ]
    for answer in answers:
        answer.pop("ResponseMetadata")
    return answers


def test_fix_26_moto_serializes_query_and_scan_items_value_by_value(dynamodb: Any) -> None:
    """The items answered without moto's generic serializer are the ones it answers."""
    dynamodb_fixes.encode_item_reads_directly()  # installed or not, upstream() below takes it away
    dynamodb.put_item(TableName="t", Item=EVERY_TYPE)
    dynamodb.put_item(TableName="t", Item={"k": {"S": "b"}, "n": {"N": "2"}})
    picked = _counting_picked_values()
    with upstream(), picked as picker:
        released = _item_reads(dynamodb)
    assert picker.call_count > 50  # every attribute value of every item, one by one
    with picked as picker:
        fixed = _item_reads(dynamodb)
    assert picker.call_count == 0
    assert fixed == released
    assert (
        fixed[0]["Count"] == 2 and fixed[1]["LastEvaluatedKey"] and fixed[4]["Items"][0]["blob"] == {"B": b"\x00\xff"}
    )
