"""The daily reconciliation: an EventBridge scheduled rule runs the transformation task
definition with the reconciliation command (`python -m containers.transformation.reconcile`),
which recomputes the last `RECONCILE_DAYS` days from the curated data and fixes any stored
KPI that differs (docs/batch-storage.md).

An ECS target's `Input` carries the task overrides (`containerOverrides`), which is how the
command is replaced; that is how the CDK's EcsTask target passes its `container_overrides`
(https://docs.aws.amazon.com/cdk/api/v2/python/aws_cdk.aws_events_targets/EcsTask.html).
Cost: scheduled rules carry no EventBridge charge; the task runs on the transformation's
Fargate size for about a minute a day (https://aws.amazon.com/fargate/pricing/), cents a month.
"""

from __future__ import annotations

import json

import awacs.ecs as ecs_actions
import awacs.iam as iam
from troposphere import GetAtt, Ref
from troposphere.events import AwsVpcConfiguration, EcsParameters, NetworkConfiguration, Rule, Target
from troposphere.iam import Policy, Role

from chalicelib.runs import Task
from infra.context import Stack, allow, assume_role_policy, policy
from infra.ecs import Ecs

SCHEDULE = "cron(30 3 * * ? *)"  # 03:30 UTC daily
RECONCILE_DAYS = "400"
COMMAND = ["python", "-m", "containers.transformation.reconcile"]


def build(stack: Stack, batch: Ecs) -> Rule:
    task = batch.tasks[Task.TRANSFORMATION]
    role = Role(
        "ReconciliationScheduleRole",
        AssumeRolePolicyDocument=assume_role_policy("events"),
        Policies=[
            Policy(
                PolicyName="run-reconciliation",
                PolicyDocument=policy(
                    [
                        allow([ecs_actions.RunTask], [Ref(task.task_definition)], sid="RunReconciliation"),
                        allow(
                            [iam.PassRole],
                            [GetAtt(task.task_role, "Arn"), GetAtt(batch.execution_role, "Arn")],
                            sid="PassTaskRoles",
                        ),
                    ]
                ),
            )
        ],
        Tags=stack.tags("events"),
    )
    stack.add(role, "Role EventBridge uses to run the daily reconciliation", "Arn")
    overrides = {
        "containerOverrides": [
            {
                "name": task.container_name,
                "command": COMMAND,
                "environment": [{"name": "RECONCILE_DAYS", "value": RECONCILE_DAYS}],
            }
        ]
    }
    rule = Rule(
        "ReconciliationSchedule",
        # W1030: with the stack's own network (SubnetIds empty, its default) the If takes the
        # created subnets; cfn-lint still checks the empty default on the branch not taken.
        Metadata={"cfn-lint": {"config": {"ignore_checks": ["W1030"]}}},
        Name=stack.name("reconcile"),
        Description="Daily: recompute the recent days from the curated data and fix differing KPIs",
        ScheduleExpression=SCHEDULE,
        State="ENABLED",
        Targets=[
            Target(
                Id="reconciliation",
                Arn=GetAtt(batch.cluster, "Arn"),
                RoleArn=GetAtt(role, "Arn"),
                Input=json.dumps(overrides),
                EcsParameters=EcsParameters(
                    TaskDefinitionArn=Ref(task.task_definition),
                    TaskCount=1,
                    LaunchType="FARGATE",
                    NetworkConfiguration=NetworkConfiguration(
                        AwsVpcConfiguration=AwsVpcConfiguration(
                            Subnets=batch.network.subnet_list,
                            SecurityGroups=[GetAtt(batch.network.task_security_group, "GroupId")],
                            AssignPublicIp=batch.network.assign_public_ip,
                        )
                    ),
                ),
            )
        ],
    )
    return stack.add(rule, "EventBridge schedule of the daily reconciliation", "Arn")
