"""S3: the input (landing) bucket, the curated-data bucket and their access-log bucket.

Names and prefixes come from `chalicelib.storage_layout`. Every bucket: public access blocked,
TLS-only policy, owner-enforced object ownership, versioning, lifecycle rules. Data buckets are
encrypted with the stack's KMS key (S3 Bucket Keys cut the KMS request cost ~99 %); the
access-log bucket uses SSE-S3 because S3 server access logging cannot deliver to SSE-KMS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import awacs.s3 as s3
from awacs.aws import Bool, Condition, Deny, Principal, Statement, StringEquals
from troposphere import GetAtt, Join, Ref, Sub
from troposphere.s3 import (
    AbortIncompleteMultipartUpload,
    Bucket,
    BucketEncryption,
    BucketPolicy,
    EventBridgeConfiguration,
    LifecycleConfiguration,
    LifecycleRule,
    LifecycleRuleTransition,
    LoggingConfiguration,
    NoncurrentVersionExpiration,
    NotificationConfiguration,
    OwnershipControls,
    OwnershipControlsRule,
    PublicAccessBlockConfiguration,
    ServerSideEncryptionByDefault,
    ServerSideEncryptionRule,
    VersioningConfiguration,
)

from chalicelib.storage_layout import (
    ARCHIVE_PREFIX,
    CURATED_BUCKET,
    INPUT_BUCKET,
    REJECTED_PREFIX,
    STAGING_PREFIX,
    BucketSpec,
)
from infra.context import RETAINED_DATA, Stack, allow, policy
from infra.encryption import Encryption

ABORT_MULTIPART_DAYS = 7


@dataclass(frozen=True)
class Storage:
    input_bucket: Bucket
    curated_bucket: Bucket
    log_bucket: Bucket

    @staticmethod
    def objects(bucket: Bucket, prefix: str = "") -> Join:
        """ARN of the objects of `bucket` under `prefix` (for IAM resources)."""
        return Join("", [GetAtt(bucket, "Arn"), f"/{prefix}*"])


def _bucket_name(stack: Stack, base: str) -> Sub:
    # Bucket names are global: the account and region make them unique per deployment.
    return Sub(f"{stack.name(base)}-${{AWS::AccountId}}-${{AWS::Region}}")


def _expire(
    rule_id: str, prefix: str, days: int, transitions: list[LifecycleRuleTransition] | None = None
) -> LifecycleRule:
    kwargs: dict[str, Any] = {"Id": rule_id, "Prefix": prefix, "Status": "Enabled", "ExpirationInDays": days}
    if transitions:
        kwargs["Transitions"] = transitions
    return LifecycleRule(**kwargs)


def _common_rules(noncurrent_days: int) -> list[LifecycleRule]:
    return [
        LifecycleRule(
            Id="abort-incomplete-uploads",
            Status="Enabled",
            AbortIncompleteMultipartUpload=AbortIncompleteMultipartUpload(DaysAfterInitiation=ABORT_MULTIPART_DAYS),
        ),
        LifecycleRule(
            Id="expire-old-versions",
            Status="Enabled",
            NoncurrentVersionExpiration=NoncurrentVersionExpiration(NoncurrentDays=noncurrent_days),
            ExpiredObjectDeleteMarker=True,
        ),
    ]


def _public_access_blocked() -> PublicAccessBlockConfiguration:
    return PublicAccessBlockConfiguration(
        BlockPublicAcls=True, BlockPublicPolicy=True, IgnorePublicAcls=True, RestrictPublicBuckets=True
    )


def _kms_encryption(encryption: Encryption) -> BucketEncryption:
    return BucketEncryption(
        ServerSideEncryptionConfiguration=[
            ServerSideEncryptionRule(
                ServerSideEncryptionByDefault=ServerSideEncryptionByDefault(
                    SSEAlgorithm="aws:kms", KMSMasterKeyID=encryption.key_arn
                ),
                BucketKeyEnabled=True,
            )
        ]
    )


def _tls_only(bucket: Bucket) -> Statement:
    """Deny every request made without TLS (a Deny is as broad as possible on purpose)."""
    return Statement(
        Sid="DenyInsecureTransport",
        Effect=Deny,
        Principal=Principal("*"),
        Action=[s3.Action("*")],
        Resource=[GetAtt(bucket, "Arn"), Storage.objects(bucket)],
        Condition=Condition(Bool({"aws:SecureTransport": "false"})),
    )


def _data_bucket(
    stack: Stack,
    spec: BucketSpec,
    base: str,
    encryption: Encryption,
    log_bucket: Bucket,
    rules: list[LifecycleRule],
    noncurrent_days: int,
    **extra: Any,
) -> Bucket:
    bucket = Bucket(
        spec.logical_id,
        BucketName=_bucket_name(stack, base),
        BucketEncryption=_kms_encryption(encryption),
        PublicAccessBlockConfiguration=_public_access_blocked(),
        OwnershipControls=OwnershipControls(Rules=[OwnershipControlsRule(ObjectOwnership="BucketOwnerEnforced")]),
        VersioningConfiguration=VersioningConfiguration(Status="Enabled"),
        LoggingConfiguration=LoggingConfiguration(DestinationBucketName=Ref(log_bucket), LogFilePrefix=f"{base}/"),
        LifecycleConfiguration=LifecycleConfiguration(Rules=rules + _common_rules(noncurrent_days)),
        Tags=stack.tags("storage"),
        **RETAINED_DATA,
        **extra,
    )
    stack.add(bucket, f"{spec.default_name}: name ({spec.env_var})")
    stack.output(f"{spec.logical_id}Arn", GetAtt(bucket, "Arn"), f"{spec.default_name}: ARN")
    stack.add(
        BucketPolicy(f"{spec.logical_id}Policy", Bucket=Ref(bucket), PolicyDocument=policy([_tls_only(bucket)])),
        f"{spec.default_name}: TLS-only bucket policy",
    )
    return bucket


def _log_bucket(stack: Stack) -> Bucket:
    bucket = Bucket(
        "AccessLogBucket",
        BucketName=_bucket_name(stack, "logs"),
        BucketEncryption=BucketEncryption(
            ServerSideEncryptionConfiguration=[
                ServerSideEncryptionRule(
                    ServerSideEncryptionByDefault=ServerSideEncryptionByDefault(SSEAlgorithm="AES256")
                )
            ]
        ),
        PublicAccessBlockConfiguration=_public_access_blocked(),
        OwnershipControls=OwnershipControls(Rules=[OwnershipControlsRule(ObjectOwnership="BucketOwnerEnforced")]),
        VersioningConfiguration=VersioningConfiguration(Status="Enabled"),
        LifecycleConfiguration=LifecycleConfiguration(
            Rules=[_expire("expire-access-logs", "", 365), *_common_rules(30)]
        ),
        Tags=stack.tags("storage"),
        **RETAINED_DATA,
        Metadata={
            "checkov": {
                "skip": [
                    {
                        "id": "CKV_AWS_18",
                        "comment": "This is the access-log bucket; logging it into itself would loop.",
                    },
                    {
                        "id": "CKV_AWS_145",
                        "comment": "S3 server access logging cannot deliver to an SSE-KMS bucket; SSE-S3 is used.",
                    },
                ]
            }
        },
    )
    stack.add(bucket, "Access-log bucket of the data buckets")
    delivery = Statement(
        Sid="S3ServerAccessLogDelivery",
        Effect="Allow",
        Principal=Principal("Service", ["logging.s3.amazonaws.com"]),
        Action=[s3.PutObject],
        Resource=[Storage.objects(bucket)],
        Condition=Condition(StringEquals({"aws:SourceAccount": Ref("AWS::AccountId")})),
    )
    stack.add(
        BucketPolicy("AccessLogBucketPolicy", Bucket=Ref(bucket), PolicyDocument=policy([delivery, _tls_only(bucket)])),
        "Access-log bucket: log delivery and TLS-only policy",
    )
    return bucket


def build(stack: Stack, encryption: Encryption) -> Storage:
    log_bucket = _log_bucket(stack)
    input_bucket = _data_bucket(
        stack,
        INPUT_BUCKET,
        "input",
        encryption,
        log_bucket,
        rules=[
            # Archived files are the audit trail and the way to rebuild curated data: kept, ever cheaper.
            LifecycleRule(
                Id="archive-tiering",
                Prefix=ARCHIVE_PREFIX,
                Status="Enabled",
                Transitions=[
                    LifecycleRuleTransition(StorageClass="STANDARD_IA", TransitionInDays=30),
                    LifecycleRuleTransition(StorageClass="GLACIER_IR", TransitionInDays=90),
                    LifecycleRuleTransition(StorageClass="DEEP_ARCHIVE", TransitionInDays=365),
                ],
            ),
            # Rejected files and rows wait for someone to fix and re-send them: a year is plenty.
            _expire(
                "rejected-retention",
                REJECTED_PREFIX,
                365,
                [LifecycleRuleTransition(StorageClass="STANDARD_IA", TransitionInDays=30)],
            ),
        ],
        noncurrent_days=30,
        # Object Created events go to EventBridge (the rule starts the workflow).
        NotificationConfiguration=NotificationConfiguration(
            EventBridgeConfiguration=EventBridgeConfiguration(EventBridgeEnabled=True)
        ),
    )
    curated_bucket = _data_bucket(
        stack,
        CURATED_BUCKET,
        "curated",
        encryption,
        log_bucket,
        # Staging holds one file's validated rows between the two tasks only.
        rules=[_expire("staging-cleanup", STAGING_PREFIX, 7)],
        # Curated Parquet is rewritten per day touched: old versions are only a safety net.
        noncurrent_days=7,
    )
    return Storage(input_bucket=input_bucket, curated_bucket=curated_bucket, log_bucket=log_bucket)


def bucket_access(bucket: Bucket, actions: list[Any], prefixes: list[str]) -> Statement:
    """An IAM statement for the objects of `bucket` under `prefixes`."""
    return allow(actions, [Storage.objects(bucket, prefix) for prefix in prefixes])
