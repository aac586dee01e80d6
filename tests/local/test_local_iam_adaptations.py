"""Each adaptation of moto's IAM access control (shoppulse/local/iam/), against moto's own behaviour.

For each: what moto 5.2.5 does (asserted, so that the test says when upstream changes), and what
the adaptation does instead, as IAM documents it.
"""

from __future__ import annotations

import json
import threading

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.iam.access_control import IAMPolicy, PermissionResult

from shoppulse.local.embedded_aws import CLIENT_CONFIG, EmbeddedAws, apply_environment, restore_environment
from shoppulse.local.iam import enforcement, invocation, step_functions
from shoppulse.local.iam.actions import Call, TaskDefinitionRoles, requests_of
from shoppulse.local.iam.policy import Decision, Request, evaluate
from shoppulse.local.iam.roles import RoleDefinition, RoleSessions, create_roles

ACCOUNT = "123456789012"
TABLE = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/Orders"
WRITE_ORDERS = {
    "Version": "2012-10-17",
    "Statement": [{"Sid": "Write", "Effect": "Allow", "Action": ["dynamodb:PutItem"], "Resource": [TABLE]}],
}
RUN_ON_CLUSTER = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": "ecs:RunTask",
            "Resource": "*",
            "Condition": {"StringEquals": {"ecs:cluster": f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/batch"}},
        },
        {"Effect": "Allow", "Action": "ecs:DescribeTasks", "Resource": "*"},
    ],
}


# --- the decision: resources and conditions (policy.py) ------------------------------------


def test_a_statement_scoped_to_a_resource_allows_that_resource_only():
    # moto asks about resource "*" for DynamoDB: a scoped Allow never matches it.
    assert IAMPolicy(json.dumps(WRITE_ORDERS)).is_action_permitted("dynamodb:PutItem", "*") is PermissionResult.NEUTRAL
    assert evaluate([WRITE_ORDERS], Request("dynamodb:PutItem", TABLE)) is Decision.ALLOWED
    assert evaluate([WRITE_ORDERS], Request("dynamodb:PutItem", TABLE + "2")) is Decision.IMPLICIT_DENY
    assert evaluate([WRITE_ORDERS], Request("dynamodb:GetItem", TABLE)) is Decision.IMPLICIT_DENY


def test_an_allow_whose_condition_is_not_met_does_not_allow_and_denies_nothing_else():
    other_cluster = {"ecs:cluster": f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/other"}
    # moto: an unmet condition in an Allow is an explicit Deny of the whole policy.
    assert IAMPolicy(json.dumps(RUN_ON_CLUSTER)).is_action_permitted("ecs:RunTask", "*", None, other_cluster) is (
        PermissionResult.DENIED
    )
    assert evaluate([RUN_ON_CLUSTER], Request("ecs:RunTask", "*", {"ecs:cluster": [other_cluster["ecs:cluster"]]})) is (
        Decision.IMPLICIT_DENY
    )
    batch = {"ecs:cluster": [f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/batch"]}
    assert evaluate([RUN_ON_CLUSTER], Request("ecs:RunTask", "*", batch)) is Decision.ALLOWED
    assert evaluate([RUN_ON_CLUSTER], Request("ecs:RunTask", "*")) is Decision.IMPLICIT_DENY  # key absent


@pytest.mark.parametrize(
    ("condition", "context", "decision"),
    [
        ({"StringLike": {"s3:prefix": ["staging/*"]}}, {"s3:prefix": ["staging/x"]}, Decision.ALLOWED),
        ({"StringLike": {"s3:prefix": ["staging/*"]}}, {"s3:prefix": ["curated/x"]}, Decision.IMPLICIT_DENY),
        ({"StringNotEquals": {"aws:k": "a"}}, {"aws:k": ["b"]}, Decision.ALLOWED),
        ({"StringEqualsIfExists": {"aws:k": "a"}}, {}, Decision.ALLOWED),
        (
            {"ForAnyValue:StringEquals": {"kms:ResourceAliases": "alias/d"}},
            {"kms:resourcealiases": ["alias/d"]},
            Decision.ALLOWED,
        ),
        ({"NumericLessThan": {"aws:n": "3"}}, {"aws:n": ["1"]}, Decision.IMPLICIT_DENY),  # unknown: fails closed
    ],
)
def test_condition_operators(condition, context, decision):
    document = {"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": condition}]}
    assert evaluate([document], Request("s3:ListBucket", "arn:aws:s3:::b", context)) is decision


def test_an_explicit_deny_wins_and_wildcards_are_iams():
    allow_all = {"Statement": {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}}
    deny = {"Statement": [{"Effect": "Deny", "NotAction": "dynamodb:Get?tem", "Resource": TABLE}]}
    assert evaluate([allow_all, deny], Request("dynamodb:getitem", TABLE)) is Decision.ALLOWED  # actions ignore case
    assert evaluate([allow_all, deny], Request("dynamodb:PutItem", TABLE)) is Decision.EXPLICIT_DENY
    assert (
        evaluate(
            [{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::b[1]"}]}],
            Request("s3:GetObject", "arn:aws:s3:::b1"),
        )
        is Decision.IMPLICIT_DENY
    )  # no character classes


# --- what a request asks (actions.py) -----------------------------------------------------------


def call(service: str, action: str, params: dict, **extra) -> Call:
    return Call(service=service, action=action, region="us-east-1", account=ACCOUNT, params=params, **extra)


def test_dynamodb_transactions_and_batches_are_authorized_per_table_and_item_action():
    transaction = call(
        "dynamodb",
        "TransactWriteItems",
        {"TransactItems": [{"Put": {"TableName": "Orders"}}, {"ConditionCheck": {"TableName": "Runs"}}]},
    )
    assert [(r.action, r.resource) for r in requests_of(transaction)] == [
        ("dynamodb:PutItem", TABLE),
        ("dynamodb:ConditionCheckItem", f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/Runs"),
    ]
    query = call("dynamodb", "Query", {"TableName": "Orders", "IndexName": "by_day"})
    assert [r.resource for r in requests_of(query)] == [f"{TABLE}/index/by_day"]
    batch = call("dynamodb", "BatchWriteItem", {"RequestItems": {"Orders": [], "Runs": []}})
    assert [r.action for r in requests_of(batch)] == ["dynamodb:BatchWriteItem"] * 2


def test_streams_and_queues_name_their_resource():
    stream = f"{TABLE}/stream/2025-01-01T00:00:00.000"
    records = call("dynamodbstreams", "GetRecords", {"ShardIterator": f"{stream}|1|abc"})
    assert [(r.action, r.resource) for r in requests_of(records)] == [("dynamodb:GetRecords", stream)]
    delete = call("sqs", "DeleteMessageBatch", {"QueueUrl": f"http://localhost/{ACCOUNT}/dlq"})
    assert [(r.action, r.resource) for r in requests_of(delete)] == [
        ("sqs:DeleteMessage", f"arn:aws:sqs:us-east-1:{ACCOUNT}:dlq")
    ]


def test_run_task_also_passes_the_task_definitions_roles():
    roles = TaskDefinitionRoles("arn:td:1", "arn:aws:iam::1:role/task", "arn:aws:iam::1:role/exec")
    run = call("ecs", "RunTask", {"cluster": "batch", "taskDefinition": "td"}, task_definition=lambda ref: roles)
    requests = requests_of(run)
    assert [(r.action, r.resource) for r in requests] == [
        ("ecs:RunTask", "arn:td:1"),
        ("iam:PassRole", "arn:aws:iam::1:role/task"),
        ("iam:PassRole", "arn:aws:iam::1:role/exec"),
    ]
    assert requests[0].values("ecs:cluster") == [f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/batch"]
    assert requests[1].values("iam:PassedToService") == ["ecs-tasks.amazonaws.com"]


def test_run_task_propagating_a_tagged_definitions_tags_also_tags_the_new_task():
    tagged = TaskDefinitionRoles("arn:td:1", None, None, tagged=True)
    params = {"cluster": "batch", "taskDefinition": "td", "propagateTags": "TASK_DEFINITION"}
    [_, tag] = requests_of(call("ecs", "RunTask", params, task_definition=lambda ref: tagged))
    assert tag.action == "ecs:TagResource"
    assert tag.resource.startswith(f"arn:aws:ecs:us-east-1:{ACCOUNT}:task/batch/")
    assert tag.values("ecs:CreateAction") == ["RunTask"]
    untagged = TaskDefinitionRoles("arn:td:1", None, None)
    assert len(requests_of(call("ecs", "RunTask", params, task_definition=lambda ref: untagged))) == 1


def test_s3_copies_read_their_source_and_listings_carry_their_prefix():
    copy = call(
        "s3",
        "PutObject",
        {},
        resource="arn:aws:s3:::in/archive/a.csv",
        headers={"x-amz-copy-source": "/in/incoming/a%20b.csv?versionId=v1"},
    )
    assert [(r.action, r.resource) for r in requests_of(copy)] == [
        ("s3:PutObject", "arn:aws:s3:::in/archive/a.csv"),
        ("s3:GetObjectVersion", "arn:aws:s3:::in/incoming/a b.csv"),
    ]
    listing = call("s3", "ListBucket", {}, resource="arn:aws:s3:::cur", query={"prefix": ["staging/"]})
    assert requests_of(listing)[0].values("s3:prefix") == ["staging/"]


# --- authentication kept, decision replaced, component credentials (enforcement.py ...) ---------------


@pytest.fixture(scope="module")
def aws():
    aws = EmbeddedAws(port=0)
    aws.start()
    previous = apply_environment(aws.environment())
    aws.client("dynamodb").create_table(
        TableName="Orders",
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    trust = {
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    }
    role = RoleDefinition("WriterRole", trust, {"write": WRITE_ORDERS})
    create_roles(aws.client("iam"), [role], lambda document: document)
    sessions = RoleSessions(aws.endpoint, aws.region, CLIENT_CONFIG)
    sessions.assume(aws.client("sts"), [role])
    aws.role, aws.sessions = role, sessions
    enforcement.enable()
    yield aws
    enforcement.disable()
    aws.stop()
    restore_environment(previous)


def test_requests_are_authenticated_and_decided_on_their_resource(aws):
    stranger = boto3.client(
        "dynamodb", endpoint_url=aws.endpoint, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with pytest.raises(ClientError, match="InvalidClientTokenId"):  # moto's authentication, kept
        stranger.list_tables()
    writer = aws.sessions.client(aws.role.arn, "dynamodb")
    writer.put_item(TableName="Orders", Item={"k": {"S": "1"}})
    with pytest.raises(ClientError) as denied:
        writer.get_item(TableName="Orders", Key={"k": {"S": "1"}})
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    assert denied.value.response["Error"]["Message"] == (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/{aws.role.name}/WriterRole is not authorized to perform: "
        f"dynamodb:GetItem on resource: {TABLE} because no identity-based policy allows the dynamodb:GetItem action"
    )
    assert aws.client("dynamodb").get_item(TableName="Orders", Key={"k": {"S": "1"}})["Item"]  # the operator


def test_step_functions_integrations_sign_as_the_state_machines_role(aws):
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.credentials import StateCredentials
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_dynamodb

    upstream = state_task_service_dynamodb.boto_client_for("us-east-1", "dynamodb", StateCredentials(aws.role.arn))
    assert upstream._request_signer._credentials.access_key == "ak"  # moto: one fixed key for every role
    step_functions.sign_integrations_with_roles(aws.sessions)
    try:
        signed = state_task_service_dynamodb.boto_client_for("us-east-1", "dynamodb", StateCredentials(aws.role.arn))
        assert signed is aws.sessions.client(aws.role.arn, "dynamodb")
    finally:
        step_functions.restore_integrations()


def test_in_process_functions_sign_as_their_role_only_while_invoked(aws):
    previous = invocation.install_default_session("us-east-1", ("testing", "testing"))
    try:
        table = boto3.resource("dynamodb", endpoint_url=aws.endpoint).Table("Orders")
        credentials = aws.sessions.credentials(aws.role.arn)
        put = invocation.with_role(credentials, lambda item: table.put_item(Item=item))
        put({"k": "2"})
        read_as_role = invocation.with_role(credentials, lambda key: table.get_item(Key=key))
        with pytest.raises(ClientError, match="AccessDeniedException"):
            read_as_role({"k": "2"})
        seen: list[str] = []
        worker = threading.Thread(target=lambda: seen.append(table.get_item(Key={"k": "2"})["Item"]["k"]))
        with invocation.invoked_as(credentials):
            worker.start()  # another thread is not in this invocation: the operator's key
            worker.join()
        assert seen == ["2"]
    finally:
        invocation.restore_default_session(previous)


def test_a_pipe_invokes_its_target_only_if_its_role_allows_it(aws):
    invoked: list[str] = []
    target = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:f"
    invoke = enforcement.invoked_by_role(aws.role.arn, target, invoked.append)
    with pytest.raises(enforcement.AccessDenied, match="lambda:InvokeFunction"):
        invoke("event")
    assert invoked == []


def test_calls_on_resources_encrypted_with_a_stack_key_also_use_the_key():
    key = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/k"
    keys = {"arn:aws:s3:::in": key, f"arn:aws:sqs:us-east-1:{ACCOUNT}:dlq": key}.get
    upload = call("s3", "PutObject", {}, resource="arn:aws:s3:::in/incoming/a.csv", encryption_key=keys)
    assert [(r.action, r.resource) for r in requests_of(upload)][1:] == [("kms:GenerateDataKey", key)]
    send = call("sqs", "SendMessage", {"QueueUrl": f"http://h/{ACCOUNT}/dlq"}, encryption_key=keys)
    assert [r.action for r in requests_of(send)] == ["sqs:SendMessage", "kms:GenerateDataKey", "kms:Decrypt"]
    assert requests_of(send)[1].values("kms:ViaService") == ["sqs.us-east-1.amazonaws.com"]
    plain = call("s3", "GetObject", {}, resource="arn:aws:s3:::logs/x", encryption_key=keys)
    assert [r.action for r in requests_of(plain)] == ["s3:GetObject"]
