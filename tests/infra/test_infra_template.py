"""The CloudFormation stack: golden file, lint, security scan, ASL validation, IAM rules.

Golden file: `tests/infra/golden/merge-dev.json` is the stage `dev` merge template (the troposphere
stack plus the Chalice overlay). After an intended change, regenerate it and review the diff:
    SHOPPULSE_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/infra/test_infra_template.py -k golden
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from chalicelib.pipes import PIPES
from chalicelib.storage_layout import BUCKETS, INCOMING_PREFIX
from chalicelib.tables import ALL_TABLES
from infra import chalice_stage, checks, template_rules
from infra.context import Stack
from infra.functions import FUNCTIONS, policy_file_name
from infra.sam_translation import write_translated
from infra.state_machine import EcsTask, WorkflowConfig, build_definition
from infra.synthesis import Synthesized, synthesize
from infra.template import render

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "infra" / "golden" / "merge-dev.json"


@pytest.fixture(scope="module")
def rendered():
    return render("dev")


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The dev stage synthesized for real, `chalice package` included (into a temporary folder)."""
    return synthesize("dev", tmp_path_factory.mktemp("build"), write_config=False)


def _resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v.get("Type") == kind}


def _statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    statements = document["Statement"]
    return statements if isinstance(statements, list) else [statements]


def _policies(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for logical_id, resource in template["Resources"].items():
        for policy in resource.get("Properties", {}).get("Policies", []):
            yield logical_id, policy["PolicyDocument"]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_golden_merge_template(rendered):
    if os.environ.get("SHOPPULSE_UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(json.dumps(rendered.merge, indent=2, sort_keys=True) + "\n")
    assert rendered.merge == json.loads(GOLDEN.read_text()), "regenerate: see the module docstring"


def test_rendering_is_deterministic_and_stage_scoped():
    assert render("dev").merge == render("dev").merge
    prod = json.dumps(render("prod").infra)
    assert "shoppulse-prod-Orders" in prod and "shoppulse-dev-" not in prod
    with pytest.raises(ValueError):
        render("Prod_1")


def _broken_copy(tmp_path: Path, rendered, name: str) -> Path:
    """The stack with one invalid property: proves cfn-lint can fail."""
    broken = json.loads(json.dumps(rendered.infra))
    broken["Resources"]["RunsTable"]["Properties"]["BillingMode"] = "FREE"
    path = tmp_path / name
    path.write_text(json.dumps(broken))
    return path


@pytest.fixture(scope="module")
def scans(synthesized, rendered, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """cfn-lint and checkov run side by side (each takes a while) on both templates plus a bad one."""
    bad_dir = tmp_path_factory.mktemp("bad")
    broken = _broken_copy(bad_dir, rendered, "broken.json")
    open_bucket = bad_dir / "open-bucket.json"
    open_bucket.write_text(json.dumps({"Resources": {"Open": {"Type": "AWS::S3::Bucket", "Properties": {}}}}))
    ours = [synthesized.infra_template, synthesized.merged_template, write_translated(synthesized.merged_template)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        lint = pool.submit(checks.cfn_lint, [*ours, broken])
        scan = pool.submit(checks.checkov, [*ours[:2], open_bucket]) if checks.CHECKOV.exists() else None
        return {
            "broken": broken,
            "open_bucket": open_bucket,
            "cfn_lint": lint.result(),
            "checkov": scan.result() if scan else None,
        }


def test_cfn_lint_finds_nothing_in_our_templates_sam_translated_included_and_does_report_a_broken_one(scans):
    findings = scans["cfn_lint"]
    assert findings and all(line.startswith(str(scans["broken"])) for line in findings), findings


def test_checkov_fails_no_check_every_skip_has_a_reason_and_it_does_report_an_open_bucket(scans):
    report = scans["checkov"]
    if report is None:
        pytest.skip(f"checkov is not installed at {checks.CHECKOV}: run `make infra-tools` (make test does)")
    ours = [c for c in report.failed if not c["file_abs_path"].endswith(scans["open_bucket"].name)]
    assert ours == [], [(c["check_id"], c["resource"]) for c in ours]
    assert len(report.failed) > len(ours)  # the open bucket's failures were seen
    assert report.passed > 100
    assert all(len(c["check_result"].get("suppress_comment", "")) > 20 for c in report.skipped)


@pytest.fixture(scope="module")
def asl_validator_available():
    if not checks.ASL_VALIDATOR.exists():
        pytest.skip(
            f"asl-validator is not installed at {checks.ASL_VALIDATOR}: run `make infra-tools` (make test does)"
        )


def test_state_machine_definitions_are_valid_asl(rendered, asl_validator_available):
    deployed = rendered.infra["Resources"]["BatchWorkflow"]["Properties"]["Definition"]
    local = build_definition(
        WorkflowConfig(
            runs_table="Runs",
            cluster="shoppulse",
            alerts_topic_arn="arn:aws:sns:us-east-1:123456789012:shoppulse-alerts",
            validation=EcsTask("shoppulse-validation", "validation", 900),
            transformation=EcsTask("shoppulse-transformation", "transformation", 1800),
            subnets=["subnet-1"],
            security_groups=[],
        )
    )
    for definition in (deployed, local):
        valid, report = checks.asl_validate(definition)
        assert valid, report


def test_asl_validator_does_reject_a_broken_definition(asl_validator_available):
    valid, _ = checks.asl_validate({"StartAt": "Nowhere", "States": {"Somewhere": {"Type": "Pass", "End": True}}})
    assert not valid


def test_every_task_has_a_timeout_and_a_catch_and_the_execution_a_timeout(rendered):
    definition = rendered.infra["Resources"]["BatchWorkflow"]["Properties"]["Definition"]
    assert definition["TimeoutSeconds"] > 0

    def states(machine: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
        for name, state in machine["States"].items():
            yield name, state
            for branch in state.get("Branches", []):
                yield from states(branch)

    tasks = {name: state for name, state in states(definition) if state["Type"] == "Task"}
    assert len(tasks) >= 10
    for name, state in tasks.items():
        assert state["TimeoutSeconds"] > 0, name
        assert any(
            "States.ALL" in c["ErrorEquals"] or "States.TaskFailed" in c["ErrorEquals"] for c in state["Catch"]
        ), name
    retried = [r for _, s in states(definition) for r in s.get("Retry", []) if r.get("MaxAttempts", 3) > 0]
    assert retried and all(r["JitterStrategy"] == "FULL" for r in retried)
    assert not any("States.TaskFailed" in r["ErrorEquals"] or "States.ALL" in r["ErrorEquals"] for r in retried)


def _offline_dev(rendered) -> chalice_stage.StageConfig:
    return chalice_stage.offline("dev", rendered.merge, chalice_stage.api_options("dev", ROOT))


def test_iam_of_the_merge_template_and_the_policy_files_is_scoped_where_aws_allows(rendered):
    """The translated stack is checked in tests/infra/test_infra_rules.py; the policy files exist only here."""
    policy_files = _offline_dev(rendered).policy_files
    documents = list(_policies(rendered.merge)) + [(name, doc) for name, doc in policy_files.items()]
    assert len(documents) >= 12
    assert [v for owner, doc in documents for v in template_rules.policy_violations(owner, doc)] == []


def test_every_resource_has_an_output(rendered):
    outputs = json.dumps(rendered.infra["Outputs"])
    missing = [r for r in rendered.infra["Resources"] if f'"{r}"' not in outputs]
    assert missing == []


def test_tables_are_rendered_from_their_specs_with_protection_and_encryption(rendered):
    tables = _resources(rendered.infra, "AWS::DynamoDB::Table")
    assert set(tables) == {spec.logical_id for spec in ALL_TABLES}
    for spec in ALL_TABLES:
        props = tables[spec.logical_id]["Properties"]
        expected = spec.create_table_kwargs(f"shoppulse-dev-{spec.default_name}")
        assert props["TableName"] == expected["TableName"]
        assert props["KeySchema"] == expected["KeySchema"]
        assert props["AttributeDefinitions"] == expected["AttributeDefinitions"]
        assert props.get("GlobalSecondaryIndexes", []) == expected.get("GlobalSecondaryIndexes", [])
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        # Deletion protection would make the rollback of a failed first create fail (infra.tables).
        assert "DeletionProtectionEnabled" not in props
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert props["SSESpecification"]["SSEType"] == "KMS"
        assert props.get("StreamSpecification", {}).get("StreamViewType") == spec.stream_view_type


def test_buckets_block_public_access_require_tls_and_encrypt(rendered):
    buckets = _resources(rendered.infra, "AWS::S3::Bucket")
    assert {b.logical_id for b in BUCKETS} <= set(buckets)
    policies = {
        p["Properties"]["Bucket"]["Ref"]: p["Properties"]["PolicyDocument"]
        for p in _resources(rendered.infra, "AWS::S3::BucketPolicy").values()
    }
    for logical_id, bucket in buckets.items():
        props = bucket["Properties"]
        assert all(props["PublicAccessBlockConfiguration"].values()), logical_id
        assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"], logical_id
        assert props["LifecycleConfiguration"]["Rules"], logical_id
        deny = [s for s in _statements(policies[logical_id]) if s["Effect"] == "Deny"]
        assert deny and deny[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}, logical_id
    assert buckets["InputBucket"]["Properties"]["NotificationConfiguration"]["EventBridgeConfiguration"] == {
        "EventBridgeEnabled": True
    }


def test_rule_starts_the_workflow_for_incoming_objects_with_retries_and_dead_letters(rendered):
    rule = _resources(rendered.infra, "AWS::Events::Rule")["WorkflowTriggerRule"]
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["detail"]["object"]["key"] == [{"prefix": INCOMING_PREFIX}]
    [target] = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Ref": "BatchWorkflow"}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0 and "Arn" in target["DeadLetterConfig"]


def test_a_rule_on_the_workflow_s_ended_executions_starts_the_run_closer(rendered):
    rule = _resources(rendered.infra, "AWS::Events::Rule")["WorkflowExecutionEndedRule"]
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["source"] == ["aws.states"]
    assert pattern["detail-type"] == ["Step Functions Execution Status Change"]
    assert pattern["detail"] == {
        "stateMachineArn": [{"Ref": "BatchWorkflow"}],
        "status": ["FAILED", "TIMED_OUT", "ABORTED"],
    }
    [target] = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Ref": "RunCloser"} and target["RetryPolicy"]["MaximumRetryAttempts"] > 0
    closer = _resources(rendered.infra, "AWS::StepFunctions::StateMachine")["RunCloser"]["Properties"]
    assert set(closer["DefinitionSubstitutions"]) == {"RunsTable", "AlertsTopic"}


def test_pipes_come_from_their_specs(rendered):
    pipes = _resources(rendered.infra, "AWS::Pipes::Pipe")
    for spec in PIPES:
        props = pipes[spec.logical_id]["Properties"]
        source = props["SourceParameters"]
        assert [f["Pattern"] for f in source["FilterCriteria"]["Filters"]] == spec.filter_patterns()
        stream = source["DynamoDBStreamParameters"]
        assert stream["BatchSize"] == spec.batch_size
        assert stream["MaximumRetryAttempts"] == spec.maximum_retry_attempts
        assert stream["OnPartialBatchItemFailure"] == "AUTOMATIC_BISECT"
        assert stream["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": [spec.dead_letter_queue.logical_id, "Arn"]}
        assert spec.function_name in json.dumps(props["Target"])
        # In the merged stack the pipe waits for its function.
        assert rendered.merge["Resources"][spec.logical_id]["DependsOn"]


def test_chalice_stage_block_and_policy_files_are_the_generated_ones(rendered):
    generated = _offline_dev(rendered)
    for name, document in generated.policy_files.items():
        assert json.loads((ROOT / ".chalice" / name).read_text()) == document, f"run `shoppulse synth` ({name})"
    stage = json.loads((ROOT / ".chalice" / "config.json").read_text())["stages"]["dev"]
    assert stage == generated.block, "run `shoppulse synth` (the block is generated, never edited)"
    assert {name: entry["iam_policy_file"] for name, entry in stage["lambda_functions"].items()} == {
        access.name: policy_file_name(Stack("dev"), access) for access in FUNCTIONS
    }


def test_merged_template_holds_the_app_functions_with_stack_names_and_policies(synthesized):
    merged = json.loads(synthesized.merged_template.read_text())
    functions = _resources(merged, "AWS::Serverless::Function")
    assert {f.logical_id for f in FUNCTIONS} == set(functions)
    for access in FUNCTIONS:
        props = functions[access.logical_id]["Properties"]
        assert props["FunctionName"].startswith("shoppulse-dev")
        assert props["Environment"]["Variables"]["RUNS_TABLE"] == {"Ref": "RunsTable"}
        [role_policy] = merged["Resources"][access.role_logical_id]["Properties"]["Policies"]
        assert any("dynamodb:GetItem" in _as_list(s["Action"]) for s in _statements(role_policy["PolicyDocument"]))
    events = functions["StandardOrderDeadLetters"]["Properties"]["Events"]
    [source] = events.values()
    assert source["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert "shoppulse-dev-standard-orders-dlq" in json.dumps(source["Properties"]["Queue"])


def test_a_daily_rule_runs_the_reconciliation_command_on_the_transformation_task(rendered):
    rule = _resources(rendered.infra, "AWS::Events::Rule")["ReconciliationSchedule"]["Properties"]
    assert rule["ScheduleExpression"].startswith("cron(")
    [target] = rule["Targets"]
    assert target["EcsParameters"]["TaskDefinitionArn"] == {"Ref": "TransformationTaskDefinition"}
    [override] = json.loads(target["Input"])["containerOverrides"]
    assert override["command"] == ["python", "-m", "containers.transformation.reconcile"]
