"""SNS topics (alerts; premium team) with an optional e-mail subscription, and the SQS queues
that hold dead letters (the pipes' and the EventBridge rule's). All encrypted with the stack key.

Topic and queue definitions come from `chalicelib.messaging` and `chalicelib.pipes`.
"""

from __future__ import annotations

from dataclasses import dataclass

import awacs.sns as sns
import awacs.sqs as sqs
from awacs.aws import Bool, Condition, Deny, Principal, Statement
from troposphere import Equals, GetAtt, If, Not, Parameter, Ref
from troposphere.sns import SubscriptionResource, Topic, TopicPolicy
from troposphere.sqs import Queue, QueuePolicy

from chalicelib.messaging import TOPICS, TopicSpec
from chalicelib.pipes import DEAD_LETTER_RETENTION_SECONDS, PIPES
from infra.context import Stack, policy
from infra.encryption import Encryption

EVENTS_DLQ = "WorkflowTriggerDeadLetterQueue"


@dataclass(frozen=True)
class Messaging:
    topics: dict[str, Topic]
    queues: dict[str, Queue]

    def topic(self, spec: TopicSpec) -> Topic:
        return self.topics[spec.logical_id]

    def queue_arn(self, logical_id: str) -> GetAtt:
        return GetAtt(self.queues[logical_id], "Arn")


def stage_name(stack: Stack, default_name: str) -> str:
    """`shoppulse-x` becomes `shoppulse-<stage>-x` (names in chalicelib carry the app prefix)."""
    prefix = "shoppulse-"
    return stack.name(default_name[len(prefix) :] if default_name.startswith(prefix) else default_name)


def _topic(stack: Stack, spec: TopicSpec, encryption: Encryption, email: Parameter) -> Topic:
    topic = Topic(
        spec.logical_id,
        TopicName=stage_name(stack, spec.default_name),
        KmsMasterKeyId=Ref(encryption.key),
        Tags=stack.tags("messaging"),
    )
    stack.add(topic, f"{spec.default_name}: topic ARN ({spec.env_var})")
    tls_only = Statement(
        Sid="DenyInsecureTransport",
        Effect=Deny,
        Principal=Principal("*"),
        Action=[sns.Publish, sns.Subscribe],
        Resource=[Ref(topic)],
        Condition=Condition(Bool({"aws:SecureTransport": "false"})),
    )
    stack.add(
        TopicPolicy(f"{spec.logical_id}Policy", Topics=[Ref(topic)], PolicyDocument=policy([tls_only])),
        f"{spec.default_name}: TLS-only topic policy",
    )
    subscription = SubscriptionResource(
        f"{spec.logical_id}EmailSubscription",
        Condition="HasNotificationEmail",
        TopicArn=Ref(topic),
        Protocol="email",
        Endpoint=Ref(email),
    )
    stack.template.add_resource(subscription)
    stack.output(
        subscription.title,
        If("HasNotificationEmail", Ref(subscription), "none"),
        f"{spec.default_name}: e-mail subscription (confirm it from the mail AWS sends)",
    )
    return topic


def _queue(stack: Stack, logical_id: str, name: str, encryption: Encryption, description: str) -> Queue:
    queue = Queue(
        logical_id,
        QueueName=name,
        KmsMasterKeyId=Ref(encryption.key),
        # A data key is reused for 1 h: far fewer KMS calls for a queue read in bursts.
        KmsDataKeyReusePeriodSeconds=3600,
        MessageRetentionPeriod=DEAD_LETTER_RETENTION_SECONDS,
        Tags=stack.tags("messaging"),
    )
    stack.add(queue, f"{description}: URL")
    stack.output(f"{logical_id}Arn", GetAtt(queue, "Arn"), f"{description}: ARN")
    stack.output(f"{logical_id}Name", GetAtt(queue, "QueueName"), f"{description}: name")
    return queue


def add_queue_policy(stack: Stack, queue: Queue, statements: list[Statement]) -> QueuePolicy:
    """The queue's one policy (a second QueuePolicy would replace the first): TLS only + extras."""
    tls_only = Statement(
        Sid="DenyInsecureTransport",
        Effect=Deny,
        Principal=Principal("*"),
        Action=[sqs.SendMessage, sqs.ReceiveMessage, sqs.DeleteMessage],
        Resource=[GetAtt(queue, "Arn")],
        Condition=Condition(Bool({"aws:SecureTransport": "false"})),
    )
    queue_policy = QueuePolicy(
        f"{queue.title}Policy", Queues=[Ref(queue)], PolicyDocument=policy([tls_only, *statements])
    )
    stack.add(queue_policy, f"{queue.title}: queue policy")
    return queue_policy


def build(stack: Stack, encryption: Encryption) -> Messaging:
    email = stack.template.add_parameter(
        Parameter(
            "NotificationEmail",
            Type="String",
            Default="",
            AllowedPattern=r"^$|^[^@\s]+@[^@\s]+\.[^@\s]+$",
            Description="E-mail address subscribed to the alert and premium-team topics (empty: none)",
        )
    )
    stack.template.add_condition("HasNotificationEmail", Not(Equals(Ref(email), "")))
    topics = {spec.logical_id: _topic(stack, spec, encryption, email) for spec in TOPICS}
    queues = {
        pipe.dead_letter_queue.logical_id: _queue(
            stack,
            pipe.dead_letter_queue.logical_id,
            stage_name(stack, pipe.dead_letter_queue.default_name),
            encryption,
            f"Dead letters of the {pipe.key} orders pipe",
        )
        for pipe in PIPES
    }
    queues[EVENTS_DLQ] = _queue(
        stack,
        EVENTS_DLQ,
        stack.name("workflow-trigger-dlq"),
        encryption,
        "Object Created events EventBridge could not deliver to the workflow",
    )
    for logical_id, queue in queues.items():
        if logical_id != EVENTS_DLQ:  # its policy also admits EventBridge: see infra.events
            add_queue_policy(stack, queue, [])
    return Messaging(topics=topics, queues=queues)
