"""`python -m containers.validation`: the validation ECS task (AWS_ENDPOINT_URL, honoured by
boto3, points it at a local AWS)."""

import sys

from chalicelib.runs import FirstLandings, Task
from containers.engine.rules import TimeBounds
from containers.tasks.entry import main
from containers.validation.task import validate_object

if __name__ == "__main__":
    sys.exit(
        main(
            Task.VALIDATION,
            lambda config, aws, run: validate_object(
                aws.s3,
                run,
                config.curated_bucket,
                config.max_invalid_ratio,
                bounds=TimeBounds.from_env(),
                landings=FirstLandings(aws.dynamodb_resource.Table(config.runs_table)),
            ),
        )
    )
