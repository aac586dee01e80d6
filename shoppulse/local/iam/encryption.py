"""Which local resources the cloud template encrypts with a customer-managed KMS key, and with which.

moto stores objects, messages and notifications unencrypted and never calls KMS, so it never
checks that a caller may use the key. AWS does: an S3 upload to an SSE-KMS bucket needs
`kms:GenerateDataKey` on the bucket's key and a download `kms:Decrypt`
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html); sending to an
encrypted queue needs `kms:GenerateDataKey` and `kms:Decrypt`, receiving `kms:Decrypt`
(https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html);
publishing to an encrypted topic `kms:GenerateDataKey*` and `kms:Decrypt`
(https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html). `shoppulse.local.iam.actions`
adds those requests for the resources named here (DynamoDB is not covered: see
docs/local-runtime.md, "IAM enforcement").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

_KEY = "AWS::KMS::Key"


def encrypted_resources(
    resources: Mapping[str, Any], physical_ids: Mapping[str, str], resolve: Callable[[Any], Any]
) -> dict[str, str]:
    """Resource ARN (bucket, queue, topic) -> the ARN of the key the template encrypts it with."""
    key_arns = {physical_ids[lid]: physical_ids[f"{lid}.Arn"] for lid, r in resources.items() if r.get("Type") == _KEY}
    key_arns.update({arn: arn for arn in list(key_arns.values())})
    encrypted: dict[str, str] = {}
    for logical_id, resource in resources.items():
        key = _key_reference(resource)
        if key is None or logical_id not in physical_ids:
            continue
        key_arn = key_arns.get(str(resolve(key)))
        if key_arn is None:
            continue
        if resource["Type"] == "AWS::SNS::Topic":
            encrypted[physical_ids[logical_id]] = key_arn  # Ref of a topic is its ARN
        else:
            encrypted[physical_ids[f"{logical_id}.Arn"]] = key_arn
    return encrypted


def _key_reference(resource: Mapping[str, Any]) -> Any:
    properties = resource.get("Properties", {})
    if resource.get("Type") in ("AWS::SQS::Queue", "AWS::SNS::Topic"):
        return properties.get("KmsMasterKeyId")
    if resource.get("Type") == "AWS::S3::Bucket":
        for rule in properties.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", []):
            default = rule.get("ServerSideEncryptionByDefault", {})
            if default.get("SSEAlgorithm") == "aws:kms":
                return default.get("KMSMasterKeyID")
    return None
