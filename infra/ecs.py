"""ECS on Fargate: the cluster and the two task definitions (the image repository is the
bootstrap stack's: `infra.bootstrap`).

One image (`containers/Dockerfile`), two commands: `python -m containers.validation` and
`python -m containers.transformation`, each its own task definition, task role (least
privilege: what that task reads and writes, nothing else) and log group.

Sizes: both tasks are single-threaded pandas/pyarrow work, so 1 vCPU is what they can use.
Validation streams the file in 16 MiB blocks: 2 GB. Transformation holds a chunk of up to 1 M
rows and recomputes the affected days from their day partitions, 16 days at a time, holding
two such folds at most (a 1 M-item file peaks under 1 GiB, docs/BENCHMARKS.md; the daily
reconciliation runs on this size too): 4 GB, the largest size
1 vCPU allows before the vCPU would sit idle. Both are cheap to raise: change `TASK_SIZES` below.
"""

from __future__ import annotations

from dataclasses import dataclass

import awacs.dynamodb as ddb
import awacs.ecr as ecr
import awacs.logs as logs
import awacs.s3 as s3
from awacs.aws import Condition, Statement, StringLike
from troposphere import GetAtt, Join, Parameter, Ref, Sub
from troposphere.ecs import (
    Cluster,
    ClusterSetting,
    ContainerDefinition,
    Environment,
    LogConfiguration,
    MountPoint,
    RuntimePlatform,
    TaskDefinition,
    Volume,
)
from troposphere.iam import Policy, Role
from troposphere.logs import LogGroup

from chalicelib.runs import Task
from chalicelib.storage_layout import (
    ARCHIVE_PREFIX,
    CURATED_BUCKET,
    CURATED_PREFIX,
    INCOMING_PREFIX,
    INDEX_PREFIX,
    INPUT_BUCKET,
    REJECTED_PREFIX,
    STAGING_PREFIX,
)
from chalicelib.tables import CATEGORY_KPIS, DAILY_KPIS, RUNS, RUNS_BY_CONTENT
from infra import bootstrap
from infra.context import Stack, allow, arn, assume_role_policy, policy
from infra.encryption import Encryption, log_group
from infra.network import Network
from infra.storage import Storage, bucket_access
from infra.tables import Tables

# (cpu units, memory MiB) per task: see the module docstring.
TASK_SIZES: dict[Task, tuple[int, int]] = {Task.VALIDATION: (1024, 2048), Task.TRANSFORMATION: (1024, 4096)}
# The longest a healthy run takes (the workflow's TimeoutSeconds for the state).
TASK_TIMEOUT_SECONDS: dict[Task, int] = {Task.VALIDATION: 900, Task.TRANSFORMATION: 1800}
MAX_INVALID_RATIO = "0.05"


@dataclass(frozen=True)
class EcsTaskResources:
    task_definition: TaskDefinition
    task_role: Role
    log_group: LogGroup
    container_name: str


@dataclass(frozen=True)
class Ecs:
    cluster: Cluster
    execution_role: Role
    network: Network
    tasks: dict[Task, EcsTaskResources]


def _repository_arn(stack: Stack) -> Sub:
    """The tasks' repository, created by the stage's bootstrap stack before the first push (infra.bootstrap)."""
    return arn("ecr", f"repository/{bootstrap.repository_name(stack)}")


def _task_statements(task: Task, storage: Storage, tables: Tables, encryption: Encryption) -> list[Statement]:
    """What each task touches: the validation task reads the input file and writes its rows to
    the staging area; the transformation task owns the curated data and the KPI tables."""
    curated = storage.curated_bucket
    list_curated = allow(
        [s3.ListBucket],
        [GetAtt(curated, "Arn")],
        sid="ListCuratedPrefixes",
    )
    list_curated.Condition = Condition(
        StringLike({"s3:prefix": [f"{p}*" for p in (STAGING_PREFIX, CURATED_PREFIX, INDEX_PREFIX)]})
    )
    runs = allow([ddb.GetItem, ddb.UpdateItem], [tables.arn(RUNS)], sid="RecordTaskSummary")
    if task is Task.VALIDATION:
        # The earlier versions of the file's key: where the same bytes may have landed first.
        list_versions = allow([s3.ListBucketVersions], [GetAtt(storage.input_bucket, "Arn")], sid="ListFileVersions")
        list_versions.Condition = Condition(StringLike({"s3:prefix": [f"{INCOMING_PREFIX}*"]}))
        return [
            bucket_access(storage.input_bucket, [s3.GetObject, s3.GetObjectVersion], [INCOMING_PREFIX]),
            list_versions,
            # Rejected rows next to the file's destination, and a rejected file's reason.
            bucket_access(storage.input_bucket, [s3.PutObject], [ARCHIVE_PREFIX, REJECTED_PREFIX]),
            bucket_access(curated, [s3.PutObject, s3.DeleteObject], [STAGING_PREFIX]),
            runs,
            # The first landing of the file's bytes (chalicelib.runs.FirstLandings).
            allow(
                [ddb.Query],
                [Join("", [tables.arn(RUNS), f"/index/{RUNS_BY_CONTENT.name}"])],
                sid="FindFirstLanding",
            ),
            encryption.data_statement(),
        ]
    kpi_tables = tables.arns_with_indexes(DAILY_KPIS) + tables.arns_with_indexes(CATEGORY_KPIS)
    return [
        bucket_access(
            curated, [s3.GetObject, s3.PutObject, s3.DeleteObject], [STAGING_PREFIX, CURATED_PREFIX, INDEX_PREFIX]
        ),
        list_curated,
        allow(
            [
                ddb.GetItem,
                ddb.BatchGetItem,  # the day items a run recomputes, 100 keys a call
                ddb.Query,
                ddb.PutItem,
                ddb.UpdateItem,
                ddb.DeleteItem,
                ddb.ConditionCheckItem,
                ddb.BatchWriteItem,
            ],
            kpi_tables,
            sid="WriteKpis",
        ),
        runs,
        encryption.data_statement(),
    ]


def _execution_role(stack: Stack, log_groups: list[LogGroup]) -> Role:
    role = Role(
        "TaskExecutionRole",
        AssumeRolePolicyDocument=assume_role_policy("ecs-tasks"),
        Policies=[
            Policy(
                PolicyName="pull-image-and-log",
                PolicyDocument=policy(
                    [
                        # GetAuthorizationToken has no resource-level permissions: "*" is the only form.
                        allow([ecr.GetAuthorizationToken], ["*"], sid="EcrLogin"),
                        allow(
                            [ecr.BatchCheckLayerAvailability, ecr.BatchGetImage, ecr.GetDownloadUrlForLayer],
                            [_repository_arn(stack)],
                            sid="PullTasksImage",
                        ),
                        allow(
                            [logs.CreateLogStream, logs.PutLogEvents],
                            # A log group's Arn attribute ends in ":*": it covers its streams.
                            [GetAtt(g, "Arn") for g in log_groups],
                            sid="WriteTaskLogs",
                        ),
                    ]
                ),
            )
        ],
        Tags=stack.tags("ecs"),
    )
    return stack.add(role, "Execution role of the tasks (image pull, logs)", "Arn")


def _task(
    stack: Stack,
    task: Task,
    image: Sub,
    storage: Storage,
    tables: Tables,
    encryption: Encryption,
    log_group: LogGroup,
    execution_role: Role,
) -> EcsTaskResources:
    name = task.value
    camel = name.capitalize()
    role = Role(
        f"{camel}TaskRole",
        AssumeRolePolicyDocument=assume_role_policy("ecs-tasks"),
        Policies=[
            Policy(
                PolicyName=f"{name}-data", PolicyDocument=policy(_task_statements(task, storage, tables, encryption))
            )
        ],
        Tags=stack.tags("ecs"),
    )
    stack.add(role, f"Task role of the {name} task", "Arn")
    cpu, memory = TASK_SIZES[task]
    environment = {
        INPUT_BUCKET.env_var: Ref(storage.input_bucket),
        CURATED_BUCKET.env_var: Ref(storage.curated_bucket),
        DAILY_KPIS.env_var: Ref(tables[DAILY_KPIS]),
        CATEGORY_KPIS.env_var: Ref(tables[CATEGORY_KPIS]),
        RUNS.env_var: Ref(tables[RUNS]),
        "MAX_INVALID_RATIO": MAX_INVALID_RATIO,
        "AWS_REGION": Ref("AWS::Region"),
    }
    definition = TaskDefinition(
        f"{camel}TaskDefinition",
        Family=stack.name(name),
        RequiresCompatibilities=["FARGATE"],
        NetworkMode="awsvpc",
        Cpu=str(cpu),
        Memory=str(memory),
        RuntimePlatform=RuntimePlatform(CpuArchitecture="X86_64", OperatingSystemFamily="LINUX"),
        ExecutionRoleArn=GetAtt(execution_role, "Arn"),
        TaskRoleArn=GetAtt(role, "Arn"),
        # The root filesystem is read-only; pandas/pyarrow spill and temp files go to /tmp.
        Volumes=[Volume(Name="tmp")],
        ContainerDefinitions=[
            ContainerDefinition(
                Name=name,
                Image=image,
                Command=["python", "-m", f"containers.{name}"],
                Essential=True,
                ReadonlyRootFilesystem=True,
                MountPoints=[MountPoint(SourceVolume="tmp", ContainerPath="/tmp", ReadOnly=False)],
                Environment=[Environment(Name=k, Value=v) for k, v in environment.items()],
                # Seconds between SIGTERM and SIGKILL when the workflow stops a timed-out task.
                StopTimeout=30,
                LogConfiguration=LogConfiguration(
                    LogDriver="awslogs",
                    Options={
                        "awslogs-group": Ref(log_group),
                        "awslogs-region": Ref("AWS::Region"),
                        "awslogs-stream-prefix": name,
                    },
                ),
            )
        ],
        Tags=stack.tags("ecs"),
    )
    stack.add(definition, f"Task definition of the {name} task (cpu {cpu}, memory {memory} MiB)")
    return EcsTaskResources(definition, role, log_group, name)


def build(stack: Stack, network: Network, storage: Storage, tables: Tables, encryption: Encryption) -> Ecs:
    image_tag = stack.template.add_parameter(
        Parameter(
            "ImageTag",
            Type="String",
            Description="Tag of the tasks image in the ECR repository (pushed by `shoppulse deploy`)",
        )
    )
    cluster = Cluster(
        "BatchCluster",
        ClusterName=stack.name("batch"),
        ClusterSettings=[ClusterSetting(Name="containerInsights", Value="enabled")],
        Tags=stack.tags("ecs"),
    )
    stack.add(cluster, "ECS cluster of the batch tasks", "Arn")
    image = Sub(
        "${AWS::AccountId}.dkr.ecr.${AWS::Region}.${AWS::URLSuffix}/${Repository}:${ImageTag}",
        Repository=bootstrap.repository_name(stack),
        ImageTag=Ref(image_tag),
    )
    log_groups = {
        task: log_group(
            stack,
            f"{task.value.capitalize()}LogGroup",
            f"/{stack.name('ecs')}/{task.value}",
            encryption,
            f"Log group of the {task.value} task",
        )
        for task in Task
    }
    execution_role = _execution_role(stack, list(log_groups.values()))
    tasks = {
        task: _task(stack, task, image, storage, tables, encryption, log_groups[task], execution_role) for task in Task
    }
    return Ecs(
        cluster=cluster,
        execution_role=execution_role,
        network=network,
        tasks=tasks,
    )


def task_arn_pattern(cluster: Cluster) -> Sub:
    """The ARNs of the tasks the cluster runs (for DescribeTasks/StopTask permissions)."""
    return Sub("arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:task/${Cluster}/*", Cluster=Ref(cluster))
