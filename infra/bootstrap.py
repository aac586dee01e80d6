"""The bootstrap stack of a stage (`shoppulse-<stage>-bootstrap`): what must exist before the
main stack can be packaged and deployed.

- The tasks' ECR repository: the image is pushed before the main stack's task definitions name
  it, on the first deployment as on every update. With the repository in the main stack, a first
  deployment would have to create the stack before the push (task definitions naming an image
  that does not exist yet) and an update would register task definitions before their image is
  pushed; a separate stack makes the sequence the same every time (SAM's `sam deploy --guided`
  and `cdk bootstrap` keep their artifact bucket and image repositories apart the same way).
- The artifact bucket `aws cloudformation package` uploads the Lambda bundle to and
  `aws cloudformation deploy --s3-bucket` uploads the template to (the merged template is over
  the 51,200 bytes a template passed inline may have: see `infra.deployment`).

Deploying it is idempotent (`--no-fail-on-empty-changeset`). Deleting it deletes the repository
with its images (`EmptyOnDelete`) and keeps the bucket (`DeletionPolicy: RetainExceptOnCreate`:
kept once created, removed if the first create fails; CloudFormation cannot delete a bucket that
holds objects,
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-deletionpolicy.html).
"""

from __future__ import annotations

import json
from typing import Any

import awacs.s3 as s3
from awacs.aws import Bool, Condition, Deny, Principal, Statement
from troposphere import GetAtt, Join, Output, Ref, Sub, Template
from troposphere.ecr import EncryptionConfiguration, ImageScanningConfiguration, LifecyclePolicy, Repository
from troposphere.s3 import (
    AbortIncompleteMultipartUpload,
    Bucket,
    BucketEncryption,
    BucketPolicy,
    LifecycleConfiguration,
    LifecycleRule,
    PublicAccessBlockConfiguration,
    ServerSideEncryptionByDefault,
    ServerSideEncryptionRule,
)

from infra.context import APP, Stack, policy

REPOSITORY = "TasksRepository"
ARTIFACT_BUCKET = "ArtifactBucket"
# Images kept in the repository: enough to roll back a month of daily deployments.
IMAGES_KEPT = 30
RETAIN = "RetainExceptOnCreate"


def stack_name(stage: str) -> str:
    return f"{APP}-{stage}-bootstrap"


def repository_name(stack: Stack) -> str:
    """The repository's name: the main stack's task definitions and execution role name it."""
    return stack.name("tasks")


def _repository(stack: Stack) -> Repository:
    lifecycle = {
        "rules": [
            {
                "rulePriority": 1,
                "description": f"keep the last {IMAGES_KEPT} images",
                "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": IMAGES_KEPT},
                "action": {"type": "expire"},
            }
        ]
    }
    return Repository(
        REPOSITORY,
        RepositoryName=repository_name(stack),
        ImageTagMutability="IMMUTABLE",
        ImageScanningConfiguration=ImageScanningConfiguration(ScanOnPush=True),
        # The stage's KMS key lives in the main stack, created after the first push: AES-256 (ECR's
        # server-side encryption with S3-managed keys) protects the image, which holds code, no data.
        EncryptionConfiguration=EncryptionConfiguration(EncryptionType="AES256"),
        LifecyclePolicy=LifecyclePolicy(LifecyclePolicyText=json.dumps(lifecycle, separators=(",", ":"))),
        # Images are build output (rebuilt from git by `shoppulse deploy`), not data: deleting the
        # stack deletes them, where a non-empty repository would otherwise fail the delete.
        # https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-ecr-repository.html
        EmptyOnDelete=True,
        Tags=stack.tags("bootstrap"),
        Metadata=_skips(
            (
                "CKV_AWS_136",
                "The stage's KMS key is created by the main stack, after the first push; AES-256 at rest protects an image that holds code, no data.",
            )
        ),
    )


def _artifact_bucket(stack: Stack) -> tuple[Bucket, BucketPolicy]:
    bucket = Bucket(
        ARTIFACT_BUCKET,
        # Bucket names are global: the account and region make the stage's name unique.
        BucketName=Sub(f"{stack.name('artifacts')}-${{AWS::AccountId}}-${{AWS::Region}}"),
        BucketEncryption=BucketEncryption(
            ServerSideEncryptionConfiguration=[
                ServerSideEncryptionRule(
                    ServerSideEncryptionByDefault=ServerSideEncryptionByDefault(SSEAlgorithm="AES256")
                )
            ]
        ),
        PublicAccessBlockConfiguration=PublicAccessBlockConfiguration(
            BlockPublicAcls=True, BlockPublicPolicy=True, IgnorePublicAcls=True, RestrictPublicBuckets=True
        ),
        LifecycleConfiguration=LifecycleConfiguration(
            Rules=[
                LifecycleRule(
                    Id="abort-incomplete-uploads",
                    Status="Enabled",
                    AbortIncompleteMultipartUpload=AbortIncompleteMultipartUpload(DaysAfterInitiation=1),
                )
            ]
        ),
        DeletionPolicy=RETAIN,
        UpdateReplacePolicy="Retain",
        Tags=stack.tags("bootstrap"),
        Metadata=_skips(
            (
                "CKV_AWS_18",
                "Holds only deployment artifacts written by `aws cloudformation package/deploy`; CloudTrail records who wrote them.",
            ),
            (
                "CKV_AWS_21",
                "Artifact keys are content hashes (a new bundle gets a new key): no object is ever overwritten.",
            ),
        ),
    )
    tls_only = Statement(
        Sid="DenyInsecureTransport",
        Effect=Deny,
        Principal=Principal("*"),
        Action=[s3.Action("*")],
        Resource=[GetAtt(bucket, "Arn"), Join("", [GetAtt(bucket, "Arn"), "/*"])],
        Condition=Condition(Bool({"aws:SecureTransport": "false"})),
    )
    return bucket, BucketPolicy(f"{ARTIFACT_BUCKET}Policy", Bucket=Ref(bucket), PolicyDocument=policy([tls_only]))


def _skips(*checks: tuple[str, str]) -> dict[str, Any]:
    """checkov checks that do not fit, each with its reason (read by checkov)."""
    return {"checkov": {"skip": [{"id": check, "comment": reason} for check, reason in checks]}}


def render(stage: str) -> dict[str, Any]:
    """The bootstrap template of a stage (a plain CloudFormation template, small enough to pass inline)."""
    stack = Stack(stage, Template())
    t = stack.template
    t.set_version("2010-09-09")
    t.set_description(f"ShopPulse ({stage}) bootstrap: the tasks' image repository and the deployment artifacts bucket")
    repository = t.add_resource(_repository(stack))
    bucket, bucket_policy = _artifact_bucket(stack)
    t.add_resource(bucket)
    t.add_resource(bucket_policy)
    t.add_output(Output(REPOSITORY, Description="ECR repository of the tasks image", Value=Ref(repository)))
    t.add_output(
        Output(
            "TasksRepositoryUri",
            Description="URI to push the tasks image to",
            Value=GetAtt(repository, "RepositoryUri"),
        )
    )
    t.add_output(
        Output(ARTIFACT_BUCKET, Description="Bucket of the packaged template and Lambda bundle", Value=Ref(bucket))
    )
    template: dict[str, Any] = json.loads(t.to_json())
    return template
