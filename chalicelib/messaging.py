"""SNS topics and SQS queues: names and the environment variables that carry them.

Like the TableSpecs, these are defined once: infra creates them and sets the variables on the
functions, the local stack creates them by their default names, the app and tests read them here.
"""

from __future__ import annotations

from collections.abc import Mapping

from chalicelib.resource_spec import ResourceSpec
from chalicelib.settings import environment, setting

# moto's (and LocalStack's) fixed account: used only when no ARN is configured (local runs).
LOCAL_ACCOUNT_ID = "123456789012"


def _region(environ: Mapping[str, str]) -> str:
    return environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or "us-east-1"


class TopicSpec(ResourceSpec):
    """An SNS topic; in the cloud its ARN comes from `env_var`."""

    def arn(self, environ: Mapping[str, str] | None = None) -> str:
        """The configured ARN (required in the cloud); locally the embedded AWS's topic."""
        env = environment(environ)
        return setting(self.env_var, f"arn:aws:sns:{_region(env)}:{LOCAL_ACCOUNT_ID}:{self.default_name}", env)


class QueueSpec(ResourceSpec):
    """An SQS queue; in the cloud its name comes from `env_var` (stage-suffixed names)."""


# Operational alerts (dead-lettered order events; the batch workflow's failures may share it).
ALERTS_TOPIC = TopicSpec("AlertsTopic", "shoppulse-alerts", "ALERTS_TOPIC_ARN")
# The premium customer-service team: one message per premium case opened.
PREMIUM_TEAM_TOPIC = TopicSpec("PremiumTeamTopic", "shoppulse-premium-team", "PREMIUM_TEAM_TOPIC_ARN")
TOPICS: tuple[TopicSpec, ...] = (ALERTS_TOPIC, PREMIUM_TEAM_TOPIC)
