"""`python -m containers.transformation`: the transformation ECS task. `shoppulse replay` runs
`transformation` in-process."""

import sys
from typing import Any

from chalicelib.runs import Task
from chalicelib.storage_layout import RunIdentity
from containers.tasks.config import AwsClients, TaskConfig
from containers.tasks.entry import main
from containers.transformation.task import transform_object


def transformation(config: TaskConfig, aws: AwsClients, run: RunIdentity) -> dict[str, Any]:
    """The task's work, once configured."""
    return transform_object(aws, run, config.curated_bucket, config.daily_table, config.category_table)


if __name__ == "__main__":
    sys.exit(main(Task.TRANSFORMATION, transformation))
