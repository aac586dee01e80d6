"""The deployment rules (`infra.template_rules`) on the SAM-translated stack, and that each can fail.

The translated template is what CloudFormation creates from `build/<stage>/package/sam.json`
(aws-sam-translator, offline). Every rule passes on it; each test below then breaks a copy the
way a future change could (drops a statement, plainly retains a table, ...) and sees the rule fire.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from infra import template_rules
from infra.execution_watch import CLOSER_LOGICAL_ID
from infra.functions import FUNCTIONS
from infra.sam_translation import PACKAGED_CODE_URI, TranslationError, translate
from infra.synthesis import synthesize
from infra.template_rules import Violation

Template = dict[str, Any]


@pytest.fixture(scope="module")
def translated(tmp_path_factory: pytest.TempPathFactory) -> Template:
    merged = synthesize("dev", tmp_path_factory.mktemp("build"), write_config=False).merged_template
    assert merged is not None
    return translate(json.loads(merged.read_text()))


@pytest.fixture
def template(translated: Template) -> Template:
    """A copy each test may break."""
    return copy.deepcopy(translated)


def _of_type(template: Template, kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def _role_of(resource: dict[str, Any], key: str) -> str:
    return resource["Properties"][key]["Fn::GetAtt"][0]


def _drop_actions(template: Template, role: str, actions: set[str]) -> None:
    """Remove `actions` from every statement of the role's inline policies (and empty statements)."""
    for inline in template["Resources"][role]["Properties"]["Policies"]:
        kept = []
        for statement in template_rules.statements(inline["PolicyDocument"]):
            statement["Action"] = [a for a in template_rules.as_list(statement["Action"]) if a not in actions]
            if statement["Action"]:
                kept.append(statement)
        inline["PolicyDocument"]["Statement"] = kept


def _fired(rule: Callable[[Template], list[Violation]], template: Template) -> list[tuple[str, str]]:
    return [(v.resource, v.message) for v in rule(template)]


def test_the_translated_stack_is_plain_cloudformation_and_breaks_no_rule(translated):
    kinds = {r["Type"] for r in translated["Resources"].values()}
    assert not any(k.startswith("AWS::Serverless::") for k in kinds) and "Transform" not in translated
    functions = _of_type(translated, "AWS::Lambda::Function")
    assert set(functions) == {f.logical_id for f in FUNCTIONS}
    assert all(f["Properties"]["TracingConfig"] == {"Mode": "Active"} for f in functions.values())
    assert all(f["Properties"]["Code"]["S3Key"] for f in functions.values())
    assert template_rules.check(translated) == []


def test_translation_reports_what_sam_rejects(translated):
    broken = copy.deepcopy(translated)
    broken["Transform"] = "AWS::Serverless-2016-10-31"
    broken["Resources"]["Orphan"] = {"Type": "AWS::Serverless::Function", "Properties": {"Runtime": "python3.12"}}
    with pytest.raises(TranslationError, match="Orphan"):
        translate(broken)
    assert PACKAGED_CODE_URI.startswith("s3://")


@pytest.mark.parametrize("function", [f.logical_id for f in FUNCTIONS])
def test_a_traced_function_whose_role_cannot_write_traces_is_caught(template, function):
    role = _role_of(template["Resources"][function], "Role")
    _drop_actions(template, role, {"xray:PutTraceSegments"})
    assert _fired(template_rules.traced_functions_can_write_traces, template) == [
        (function, f"role {role} does not allow xray:PutTraceSegments")
    ]


def test_tracing_rights_count_wherever_they_are_attached_and_only_for_traced_functions(template):
    function = FUNCTIONS[0].logical_id
    role = _role_of(template["Resources"][function], "Role")
    _drop_actions(template, role, set(template_rules.LAMBDA_TRACING))
    template["Resources"]["SeparateTracingPolicy"] = {
        "Type": "AWS::IAM::Policy",
        "Properties": {
            "PolicyName": "tracing",
            "Roles": [{"Ref": role}],
            "PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": ["xray:Put*"], "Resource": "*"}]},
        },
    }
    assert template_rules.traced_functions_can_write_traces(template) == []
    del template["Resources"]["SeparateTracingPolicy"]
    assert len(template_rules.traced_functions_can_write_traces(template)) == 2
    template["Resources"][function]["Properties"]["TracingConfig"] = {"Mode": "PassThrough"}
    assert template_rules.traced_functions_can_write_traces(template) == []


def _workflow(template: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The batch workflow (the stack's other state machine, the run closer, runs no task)."""
    machines = _of_type(template, "AWS::StepFunctions::StateMachine")
    [machine] = [m for m in machines if m != CLOSER_LOGICAL_ID]
    return machine, machines[machine]


def test_a_traced_state_machine_without_sampling_rights_is_caught(template):
    machine, resource = _workflow(template)
    _drop_actions(template, _role_of(resource, "RoleArn"), {"xray:GetSamplingTargets"})
    assert [v.resource for v in template_rules.traced_functions_can_write_traces(template)] == [machine]


def test_tag_propagation_without_ecs_tag_resource_is_caught_and_only_then(template):
    machine, resource = _workflow(template)
    role = _role_of(resource, "RoleArn")
    _drop_actions(template, role, {"ecs:TagResource"})
    assert _fired(template_rules.tag_propagation_can_tag, template) == [
        (machine, f"role {role} does not allow ecs:TagResource")
    ]
    text = json.dumps(resource["Properties"]["Definition"]).replace('"PropagateTags": "TASK_DEFINITION"', '"x": 1')
    resource["Properties"]["Definition"] = json.loads(text)
    assert template_rules.tag_propagation_can_tag(template) == []


def test_plainly_retained_fixed_name_data_and_unretained_data_are_caught(template):
    template["Resources"]["RunsTable"]["DeletionPolicy"] = "Retain"
    template["Resources"]["CuratedBucket"]["DeletionPolicy"] = "Delete"
    assert sorted(_fired(template_rules.retained_data_survives_failed_create, template)) == [
        ("CuratedBucket", "data with DeletionPolicy Delete: deleted with the stack"),
        ("RunsTable", "fixed name (TableName) with plain Retain: RetainExceptOnCreate"),
    ]


def test_every_table_and_bucket_is_retained_except_on_create(translated):
    data = {
        k: v for k, v in translated["Resources"].items() if v["Type"] in ("AWS::DynamoDB::Table", "AWS::S3::Bucket")
    }
    assert len(data) == 10
    assert {(v["DeletionPolicy"], v["UpdateReplacePolicy"]) for v in data.values()} == {
        ("RetainExceptOnCreate", "Retain")
    }


def test_a_key_that_would_not_outlive_its_retained_data_is_caught(template):
    [key] = _of_type(template, "AWS::KMS::Key")
    encrypted = [
        k
        for k, v in template["Resources"].items()
        if v.get("DeletionPolicy") == "RetainExceptOnCreate" and key in template_rules.references(v["Properties"])
    ]
    assert len(encrypted) >= 9  # the tables and the two data buckets
    template["Resources"][key]["DeletionPolicy"] = "Delete"
    fired = template_rules.keys_outlive_retained_data(template)
    assert sorted(v.resource for v in fired) == sorted(encrypted)
    template["Resources"][key]["DeletionPolicy"] = "RetainExceptOnCreate"
    template["Resources"][key]["UpdateReplacePolicy"] = "Delete"
    assert {v.message for v in template_rules.keys_outlive_retained_data(template)} == {
        f"kept on replacement, its key {key} is not"
    }


def test_a_key_reached_through_an_alias_counts(template):
    [key] = _of_type(template, "AWS::KMS::Key")
    [alias] = _of_type(template, "AWS::KMS::Alias")
    template["Resources"]["RunsTable"]["Properties"]["SSESpecification"]["KMSMasterKeyId"] = {"Ref": alias}
    template["Resources"][key]["DeletionPolicy"] = "Delete"
    assert "RunsTable" in {v.resource for v in template_rules.keys_outlive_retained_data(template)}


def _add_statement(template: Template, role: str, statement: dict[str, Any]) -> None:
    template["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"].append(statement)


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ({"Sid": "Wide", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"}, "on an unscoped resource"),
        (
            {"Sid": "Wide", "Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": "arn:aws:sqs:us-east-1:1:*"},
            "on an unscoped resource",
        ),
        ({"Sid": "Wide", "Effect": "Allow", "Action": ["dynamodb:*"], "Resource": "arn:aws:dynamodb:x"}, "wildcard"),
        (
            {"Sid": "Wide", "Effect": "Allow", "Action": ["dynamodb:ListStreams"], "Resource": "arn:aws:dynamodb:t"},
            "need Resource '*'",
        ),
        ({"Sid": "Wide", "Effect": "Allow", "NotAction": ["iam:*"], "Resource": "*"}, "NotAction"),
    ],
)
def test_an_unscoped_or_unscopable_grant_on_any_role_is_caught(template, statement, message):
    roles = list(_of_type(template, "AWS::IAM::Role"))
    assert len(roles) >= 12
    for role in roles:
        if not template["Resources"][role]["Properties"].get("Policies"):
            continue
        broken = copy.deepcopy(template)
        _add_statement(broken, role, statement)
        [violation] = template_rules.iam_resources_scoped(broken)
        assert violation.resource == role and "statement Wide" in violation.message and message in violation.message


def test_every_unscoped_action_cites_the_aws_page_that_says_so():
    for action, page in template_rules.ACTIONS_WITHOUT_RESOURCE_SCOPE.items():
        assert ":" in action and "*" not in action and page.startswith("https://docs.aws.amazon.com/"), action


def test_references_follow_ref_getatt_and_sub():
    value = {
        "a": {"Ref": "One"},
        "b": {"Fn::GetAtt": ["Two", "Arn"]},
        "c": {"Fn::GetAtt": "Three.Arn"},
        "d": {"Fn::Sub": "${Four.Arn}/x/${AWS::Region}"},
        "e": {"Fn::Sub": ["${Five}", {"Five": {"Ref": "Six"}}]},
    }
    assert template_rules.references(value) - {"Five"} == {"One", "Two", "Three", "Four", "Six"}
