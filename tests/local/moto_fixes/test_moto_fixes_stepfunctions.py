"""moto as released still needs the Step Functions fixes (shoppulse/local/moto_fixes/stepfunctions.py).

Each test runs moto's own code (`patching.upstream`) and asserts the shortcoming the fix makes
up for: when one fails, moto has caught up, and the part of the fix it names can go. (Fixes 3,
5 and 6, the `ecs:runTask.sync` integration, are exercised through the real definition in
tests/infra/test_infra_state_machine.py.)
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from shoppulse.local.moto_fixes.patching import upstream

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/workflow"


@pytest.fixture
def sfn() -> Iterator[Any]:
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}), upstream():
        yield boto3.client("stepfunctions", region_name=REGION)


def _machine(sfn: Any, states: dict[str, Any]) -> str:
    definition = {"StartAt": next(iter(states)), "States": states}
    return str(sfn.create_state_machine(name="m", definition=json.dumps(definition), roleArn=ROLE)["stateMachineArn"])


def _finished(sfn: Any, execution_arn: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        described: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            return described
        time.sleep(0.05)
    raise AssertionError(f"{execution_arn} still running")


def test_fix_8_moto_names_an_execution_started_without_a_name_none(sfn: Any) -> None:
    machine = _machine(sfn, {"Done": {"Type": "Pass", "End": True}})
    execution = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    assert execution.endswith(":None")  # AWS: a UUID


def test_fix_8_moto_gives_the_execution_start_time_as_a_datetime(sfn: Any) -> None:
    machine = _machine(
        sfn, {"Done": {"Type": "Pass", "Parameters": {"started.$": "$$.Execution.StartTime"}, "End": True}}
    )
    execution = sfn.start_execution(stateMachineArn=machine, name="e")["executionArn"]
    with pytest.raises(TypeError, match="Object of type datetime is not JSON serializable"):
        _finished(sfn, execution)  # AWS: the output holds an ISO-8601 string
