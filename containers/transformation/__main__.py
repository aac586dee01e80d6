"""`python -m containers.transformation`: the transformation ECS task."""

import sys

from chalicelib.runs import Task
from containers.tasks.entry import main
from containers.transformation.task import transform_object

if __name__ == "__main__":
    sys.exit(
        main(
            Task.TRANSFORMATION,
            lambda config, aws, run: transform_object(
                aws, run, config.curated_bucket, config.daily_table, config.category_table
            ),
        )
    )
