"""CloudWatch alarms (to the alerts topic) and one dashboard for the whole pipeline.

Alarms fire on the first occurrence (threshold 1 over 5 minutes): every one of them means a
file, an order event or a request that did not get through, which someone must look at.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from troposphere import GetAtt, Ref, Sub
from troposphere.cloudwatch import Alarm, Dashboard, MetricDimension

from chalicelib.messaging import ALERTS_TOPIC
from chalicelib.pipes import PIPES
from infra.context import Stack
from infra.functions import FUNCTIONS
from infra.messaging import Messaging, stage_name
from infra.workflow import Workflow

PERIOD_SECONDS = 300


@dataclass(frozen=True)
class Monitoring:
    alarms: list[Alarm]
    dashboard: Dashboard


def _alarm(
    stack: Stack,
    logical_id: str,
    description: str,
    namespace: str,
    metric: str,
    dimensions: dict[str, Any],
    topic: Any,
    statistic: str = "Sum",
    **extra: Any,
) -> Alarm:
    alarm = Alarm(
        logical_id,
        AlarmName=stack.name(logical_id),
        AlarmDescription=description,
        Namespace=namespace,
        MetricName=metric,
        Dimensions=[MetricDimension(Name=k, Value=v) for k, v in dimensions.items()],
        Statistic=statistic,
        Period=PERIOD_SECONDS,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="notBreaching",
        AlarmActions=[topic],
        OKActions=[topic],
        **extra,
    )
    return stack.add(alarm, f"Alarm: {description}", "Arn")


def _widget(title: str, metrics: list[list[Any]], x: int, y: int, stat: str = "Sum") -> dict[str, Any]:
    return {
        "type": "metric",
        "x": x,
        "y": y,
        "width": 12,
        "height": 6,
        "properties": {
            "title": title,
            "metrics": metrics,
            "stat": stat,
            "period": PERIOD_SECONDS,
            "region": "${AWS::Region}",
            "view": "timeSeries",
        },
    }


def build(stack: Stack, workflow: Workflow, messaging: Messaging, pipes_condition: str) -> Monitoring:
    topic = Ref(messaging.topic(ALERTS_TOPIC))
    machine = Ref(workflow.state_machine)
    alarms = [
        _alarm(
            stack,
            "WorkflowExecutionsFailed",
            "batch workflow executions failed",
            "AWS/States",
            "ExecutionsFailed",
            {"StateMachineArn": machine},
            topic,
        ),
        _alarm(
            stack,
            "WorkflowExecutionsTimedOut",
            "batch workflow executions timed out",
            "AWS/States",
            "ExecutionsTimedOut",
            {"StateMachineArn": machine},
            topic,
        ),
    ]
    queue_names = {logical_id: GetAtt(queue, "QueueName") for logical_id, queue in messaging.queues.items()}
    for logical_id, name in queue_names.items():
        alarms.append(
            _alarm(
                stack,
                f"{logical_id}Depth",
                f"messages waiting in {logical_id}",
                "AWS/SQS",
                "ApproximateNumberOfMessagesVisible",
                {"QueueName": name},
                topic,
                statistic="Maximum",
            )
        )
    for access in FUNCTIONS:
        alarms.append(
            _alarm(
                stack,
                f"{access.logical_id}Errors",
                f"Lambda {access.name} errors",
                "AWS/Lambda",
                "Errors",
                {"FunctionName": access.deployed_name(stack)},
                topic,
            )
        )
    for pipe in PIPES:
        alarms.append(
            _alarm(
                stack,
                f"{pipe.logical_id}Failures",
                f"pipe {pipe.key} failed executions",
                "AWS/EventBridge/Pipes",
                "ExecutionFailed",
                {"PipeName": stage_name(stack, pipe.default_name)},
                topic,
                Condition=pipes_condition,
            )
        )
    widgets = [
        _widget(
            "Batch workflow executions",
            [
                ["AWS/States", m, "StateMachineArn", "${Machine}"]
                for m in ("ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed", "ExecutionsTimedOut")
            ],
            0,
            0,
        ),
        _widget(
            "Batch workflow duration (ms)",
            [["AWS/States", "ExecutionTime", "StateMachineArn", "${Machine}"]],
            12,
            0,
            "p95",
        ),
        _widget(
            "Pipes: invocations and failures",
            [
                ["AWS/EventBridge/Pipes", m, "PipeName", stage_name(stack, p.default_name)]
                for p in PIPES
                for m in ("Invocations", "ExecutionFailed", "TargetStageFailed")
            ],
            0,
            6,
        ),
        _widget(
            "Lambda errors",
            [["AWS/Lambda", "Errors", "FunctionName", a.deployed_name(stack)] for a in FUNCTIONS],
            12,
            6,
        ),
        _widget(
            "Lambda duration p95 (ms)",
            [["AWS/Lambda", "Duration", "FunctionName", a.deployed_name(stack)] for a in FUNCTIONS],
            0,
            12,
            "p95",
        ),
        _widget(
            "Dead letters waiting",
            [
                ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", f"${{{logical_id}}}"]
                for logical_id in queue_names
            ],
            12,
            12,
            "Maximum",
        ),
    ]
    body = Sub(json.dumps({"widgets": widgets}), Machine=machine, **queue_names)
    dashboard = Dashboard("PipelineDashboard", DashboardName=stack.name("pipeline"), DashboardBody=body)
    stack.add(dashboard, "CloudWatch dashboard of the pipeline")
    return Monitoring(alarms, dashboard)
