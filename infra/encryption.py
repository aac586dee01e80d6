"""The stack's customer-managed KMS key: everything at rest is encrypted with it.

One key per stage (not one per service): a single place to audit, rotate and revoke, and one
`kms:*`-free key policy. The account root keeps administration and delegates use to IAM
policies (each role below is granted only Decrypt/GenerateDataKey); services that encrypt on
our behalf without a role of ours (CloudWatch Logs, alarms publishing to SNS, EventBridge
writing to its dead-letter queue) are named in the key policy, scoped to this account.
"""

from __future__ import annotations

from dataclasses import dataclass

import awacs.kms as kms
from awacs.aws import Allow, ArnLike, AWSPrincipal, Condition, Principal, Statement, StringEquals
from troposphere import GetAtt, Ref, Sub
from troposphere.kms import Alias, Key
from troposphere.logs import LogGroup

from infra.context import LOG_RETENTION_DAYS, RETAINED_DATA, Stack, allow, arn, policy

ADMIN_ACTIONS = (
    kms.CreateAlias,
    kms.CreateGrant,
    kms.DescribeKey,
    kms.EnableKey,
    kms.EnableKeyRotation,
    kms.ListAliases,
    kms.ListGrants,
    kms.ListKeyPolicies,
    kms.ListResourceTags,
    kms.PutKeyPolicy,
    kms.UpdateAlias,
    kms.UpdateKeyDescription,
    kms.RevokeGrant,
    kms.DisableKey,
    kms.DisableKeyRotation,
    kms.GetKeyPolicy,
    kms.GetKeyRotationStatus,
    kms.DeleteAlias,
    kms.TagResource,
    kms.UntagResource,
    kms.ScheduleKeyDeletion,
    kms.CancelKeyDeletion,
)
USE_ACTIONS = (kms.Encrypt, kms.Decrypt, kms.ReEncryptFrom, kms.ReEncryptTo, kms.GenerateDataKey, kms.DescribeKey)
# What a role needs to read and write data encrypted with the key (S3, DynamoDB, SQS, SNS).
DATA_ACTIONS = (kms.Decrypt, kms.GenerateDataKey)


@dataclass(frozen=True)
class Encryption:
    key: Key

    @property
    def key_arn(self) -> GetAtt:
        return GetAtt(self.key, "Arn")

    def data_statement(self) -> Statement:
        """The IAM statement that lets a role use this key for data (and nothing else)."""
        return allow(DATA_ACTIONS, [self.key_arn], sid="UseStackKey")


def build(stack: Stack) -> Encryption:
    account = Condition(StringEquals({"aws:SourceAccount": Ref("AWS::AccountId")}))
    key_policy = policy(
        [
            Statement(
                Sid="AccountAdministersAndDelegatesToIam",
                Effect=Allow,
                Principal=AWSPrincipal(Sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")),
                Action=list(ADMIN_ACTIONS + USE_ACTIONS),
                Resource=["*"],
            ),
            Statement(
                Sid="CloudWatchLogsEncryptsOurLogGroups",
                Effect=Allow,
                Principal=Principal("Service", [Sub("logs.${AWS::Region}.amazonaws.com")]),
                Action=list(USE_ACTIONS),
                Resource=["*"],
                Condition=Condition(ArnLike({"kms:EncryptionContext:aws:logs:arn": arn("logs", "log-group:*")})),
            ),
            # Execution logs of the (encrypted) state machine are decrypted by the log delivery service.
            Statement(
                Sid="LogDeliveryReadsEncryptedStateMachineData",
                Effect=Allow,
                Principal=Principal("Service", ["delivery.logs.amazonaws.com"]),
                Action=[kms.Decrypt],
                Resource=["*"],
                Condition=account,
            ),
            Statement(
                Sid="ServicesPublishToEncryptedQueuesAndTopics",
                Effect=Allow,
                Principal=Principal("Service", ["cloudwatch.amazonaws.com", "events.amazonaws.com"]),
                Action=list(DATA_ACTIONS),
                Resource=["*"],
                Condition=account,
            ),
        ]
    )
    key = Key(
        "StackKey",
        Description=f"ShopPulse {stack.stage}: encryption at rest for buckets, tables, queues, topics, logs",
        EnableKeyRotation=True,
        PendingWindowInDays=30,
        KeyPolicy=key_policy,
        Tags=stack.tags("encryption"),
        # The retained tables and buckets stay encrypted with this key: it must outlive them
        # (a deleted stack would otherwise schedule the key for deletion under retained data).
        **RETAINED_DATA,
    )
    stack.add(key, "KMS key encrypting the stack's data at rest", "Arn")
    stack.add(
        Alias("StackKeyAlias", AliasName=f"alias/{stack.name('data')}", TargetKeyId=Ref(key)),
        "Alias of the stack's KMS key",
    )
    return Encryption(key)


def log_group(
    stack: Stack, logical_id: str, name: str, encryption: Encryption, description: str, condition: str | None = None
) -> LogGroup:
    """A log group of the stack: encrypted with the stack key, kept `LOG_RETENTION_DAYS`."""
    group = LogGroup(
        logical_id,
        LogGroupName=name,
        RetentionInDays=LOG_RETENTION_DAYS,
        KmsKeyId=encryption.key_arn,
        Tags=stack.tags("logs"),
    )
    if condition:
        group.Condition = condition
    return stack.add(group, description)
