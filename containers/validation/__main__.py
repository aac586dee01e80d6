"""`python -m containers.validation`: the validation ECS task (AWS_ENDPOINT_URL, honoured by
boto3, points it at a local AWS). `shoppulse replay` runs `validation` in-process."""

import sys
from typing import Any

from chalicelib.runs import FirstLandings, Task
from chalicelib.storage_layout import RunIdentity
from containers.engine.rules import TimeBounds
from containers.tasks.config import AwsClients, TaskConfig
from containers.tasks.entry import main
from containers.validation.task import validate_object


def validation(config: TaskConfig, aws: AwsClients, run: RunIdentity) -> dict[str, Any]:
    """The task's work, once configured."""
    return validate_object(
        aws.s3,
        run,
        config.curated_bucket,
        config.max_invalid_ratio,
        bounds=TimeBounds.from_env(),
        landings=FirstLandings(aws.dynamodb_resource.Table(config.runs_table)),
    )


if __name__ == "__main__":
    sys.exit(main(Task.VALIDATION, validation))
