"""The local stack keeps its tables and buckets between runs (`shoppulse up --data-dir`).

A stack with `persist` saves on stop and restores on start; restored orders are data, not
events: the pipes do not process them again.
"""

from __future__ import annotations

import json
from decimal import Decimal

import boto3
import pytest

from chalicelib.orders.model import new_order
from chalicelib.orders.repository import OrderRepository
from chalicelib.storage_layout import CURATED_BUCKET
from chalicelib.tables import ORDER_PROCESSING, ORDERS
from shoppulse.cli import main
from shoppulse.local.stack import LocalStack, StackSettings


def test_tables_and_buckets_survive_a_restart_and_restored_orders_are_not_events_again(tmp_path):
    settings = StackSettings(aws_port=0, api_port=0, data_dir=tmp_path, persist=True, serve_api=False)
    with LocalStack(settings) as first:
        orders = OrderRepository(
            boto3.session.Session().resource("dynamodb", endpoint_url=first.endpoint).Table(ORDERS.name())
        )
        orders.create(
            new_order(
                order_id="kept",
                customer_id="c",
                customer_email="k@example.com",
                line_items=[{"sku": "S", "quantity": 1, "unitPrice": Decimal("120.00")}],
            )
        )
        first.client("s3").put_object(Bucket=CURATED_BUCKET.name(), Key="curated/x.bin", Body=b"\x00\x01kept")
        first.wait_for_pipes()
        processed = first.client("dynamodb").scan(TableName=ORDER_PROCESSING.name())["Items"]
        assert [i["orderId"]["S"] for i in processed] == ["kept"]
        assert first.restored is None

    with LocalStack(settings) as second:
        assert second.restored and second.restored[ORDERS.name()] == 1
        dynamodb = second.client("dynamodb")
        kept = dynamodb.get_item(TableName=ORDERS.name(), Key={"orderId": {"S": "kept"}})["Item"]
        assert Decimal(kept["amount"]["N"]) == Decimal("120")
        body = second.client("s3").get_object(Bucket=CURATED_BUCKET.name(), Key="curated/x.bin")["Body"].read()
        assert body == b"\x00\x01kept"
        second.wait_for_pipes()
        assert dynamodb.scan(TableName=ORDER_PROCESSING.name())["Items"] == processed
        assert all(poller.invocations == 0 for poller in second.pipes.values())


def test_a_state_saved_in_another_curated_layout_is_refused_before_anything_starts(
    tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "manifest.json").write_text(json.dumps({"saved_at": "2026-11-01T00:00:00+00:00", "counts": {}}))
    assert main(["up", "--data-dir", str(tmp_path), "--aws-port", "0", "--api-port", "0"]) == 1
    assert "layout 1" in capsys.readouterr().err and (state / "manifest.json").is_file()  # nothing lost


def test_an_object_deleted_between_listing_and_reading_is_left_out_of_the_snapshot(tmp_path):
    """A periodic save runs while tasks work: a staging part listed, then deleted by its task,
    must not fail the save (it would lose the whole interval)."""
    from moto import mock_aws

    from shoppulse.local import snapshot

    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="snap-bucket")
        s3.put_object(Bucket="snap-bucket", Key="staging/gone.parquet", Body=b"x")
        s3.put_object(Bucket="snap-bucket", Key="kept.csv", Body=b"y")
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")

        class DeletedOnRead:
            """The bucket as a concurrent task leaves it: the part is deleted once listed."""

            def __getattr__(self, name: str):
                return getattr(s3, name)

            def get_object(self, **kwargs):
                if kwargs["Key"] == "staging/gone.parquet":
                    s3.delete_object(Bucket=kwargs["Bucket"], Key=kwargs["Key"])
                return s3.get_object(**kwargs)

        counts = snapshot.save(tmp_path / "state", dynamodb, DeletedOnRead(), [], ["snap-bucket"])

    assert counts == {"snap-bucket": 1}
    assert (tmp_path / "state" / "s3" / "snap-bucket" / "kept.csv").read_bytes() == b"y"
    assert not (tmp_path / "state" / "s3" / "snap-bucket" / "staging").exists()
