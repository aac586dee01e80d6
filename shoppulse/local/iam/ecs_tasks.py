"""ECS tasks get their task role's credentials, as the container credentials endpoint gives them.

In AWS the SDK in a container finds the task role's session through
`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`; locally the task process gets the same session in its
environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), replacing the
operator's. A task whose definition has no (known) task role gets empty ones: no credentials.
https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-iam-roles.html
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from shoppulse.local.ecs_runner import LocalEcsRunner, TaskLaunch, TaskOutcome

NO_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": ""}


class TaskRoleEcsRunner(LocalEcsRunner):
    """`LocalEcsRunner` whose task processes run with their task role's credentials."""

    def __init__(self, *, task_credentials: Callable[[str], Mapping[str, str]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # family -> the task role's credential variables (NO_CREDENTIALS when it has none)
        self._task_credentials = task_credentials

    def start(self, launch: TaskLaunch, on_exit: Callable[[TaskOutcome], None]) -> None:
        environment = {**launch.environment, **self._task_credentials(launch.family)}
        super().start(replace(launch, environment=environment), on_exit)
